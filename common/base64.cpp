#include "common/base64.hpp"

#include <openssl/evp.h>

#include <cctype>

namespace tierd {

std::string encode_base64(const char *data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                        reinterpret_cast<const unsigned char *>(data), static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

bool decode_base64(const std::string &text, std::string &out) {
    if (text.size() % 4 != 0)
        return false;
    for (char c : text)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
            return false;
    out.resize(text.size() / 4 * 3);
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                                  reinterpret_cast<const unsigned char *>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0)
        return false;
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=')
        padding = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    out.resize(static_cast<std::size_t>(n) - padding);
    return true;
}

} // namespace tierd
