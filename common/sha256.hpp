// SHA-256 as 64 lowercase hex digits, through OpenSSL's EVP interface: model files and
// updates are identified by it (docs/models.md).
#pragma once

#include <string>

namespace tierd {

std::string sha256_hex(const std::string &bytes);

// Of a file's contents, read in 64 KiB blocks; throws std::runtime_error ("PATH: cannot
// open" / "PATH: read error").
std::string sha256_file_hex(const std::string &path);

} // namespace tierd
