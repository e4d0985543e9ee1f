// Standard base64 (RFC 4648, with padding), through OpenSSL's EVP_EncodeBlock and
// EVP_DecodeBlock: binary data inside MQTT command JSON (models.update's chunks,
// samples.get's IDX files; docs/mqtt.md).
#pragma once

#include <cstddef>
#include <string>

namespace tierd {

std::string encode_base64(const char *data, std::size_t size);
inline std::string encode_base64(const std::string &bytes) {
    return encode_base64(bytes.data(), bytes.size());
}

// Bytes of `text`; false (and `out` unspecified) when it is not padded standard base64.
bool decode_base64(const std::string &text, std::string &out);

} // namespace tierd
