#include "agent/pipeline/jpeg_codec.hpp"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <jpeglib.h>

namespace tierd {
namespace {

// libjpeg reports fatal errors through error_exit, which must not return: it jumps
// back to the setjmp of the call in progress. Only plain C objects live between that
// setjmp and the jump (the C++ objects are created outside the guarded sections).
struct ErrorJump {
    jpeg_error_mgr base;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void error_exit(j_common_ptr info) {
    auto *err = reinterpret_cast<ErrorJump *>(info->err);
    (*info->err->format_message)(info, err->message);
    std::longjmp(err->jump, 1);
}

// Warnings (e.g. "premature end of data") make a JPEG suspect: treat them as errors,
// so a truncated frame is refused rather than shown half grey.
void emit_message(j_common_ptr info, int level) {
    if (level < 0)
        error_exit(info);
}

void install(ErrorJump &err, jpeg_decompress_struct &info) {
    info.err = jpeg_std_error(&err.base);
    err.base.error_exit = error_exit;
    err.base.emit_message = emit_message;
    err.message[0] = '\0';
}

// The header of `jpeg` read into `info` (created here); false with the message when
// libjpeg refuses it. On true the caller owns `info` and must jpeg_destroy_decompress it.
bool start_decompress(std::string_view jpeg, jpeg_decompress_struct &info, ErrorJump &err) {
    install(err, info);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&info);
        return false;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, reinterpret_cast<const unsigned char *>(jpeg.data()),
                 static_cast<unsigned long>(jpeg.size()));
    jpeg_read_header(&info, TRUE);
    return true;
}

} // namespace

std::string encode_jpeg(const cv::Mat &image, int quality) {
    if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3) || image.empty())
        throw std::invalid_argument("jpeg: the image must be 8-bit gray or BGR and not empty");
    const cv::Mat src = image.isContinuous() ? image : image.clone();
    jpeg_compress_struct info{};
    ErrorJump err{};
    info.err = jpeg_std_error(&err.base);
    err.base.error_exit = error_exit;
    unsigned char *buffer = nullptr;
    unsigned long size = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&info);
        std::free(buffer);
        throw std::runtime_error(std::string("jpeg: ") + err.message);
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, &buffer, &size);
    info.image_width = static_cast<JDIMENSION>(src.cols);
    info.image_height = static_cast<JDIMENSION>(src.rows);
    info.input_components = src.channels();
    info.in_color_space = src.channels() == 1 ? JCS_GRAYSCALE : JCS_EXT_BGR;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = const_cast<JSAMPROW>(src.ptr(static_cast<int>(info.next_scanline)));
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    std::string out(reinterpret_cast<const char *>(buffer), size);
    std::free(buffer);
    return out;
}

bool read_jpeg_header(std::string_view jpeg, int &width, int &height, int &channels,
                      std::string &error) {
    jpeg_decompress_struct info{};
    ErrorJump err{};
    if (!start_decompress(jpeg, info, err)) {
        error = std::string("not a readable JPEG: ") + err.message;
        return false;
    }
    width = static_cast<int>(info.image_width);
    height = static_cast<int>(info.image_height);
    channels = info.num_components == 1 ? 1 : 3;
    jpeg_destroy_decompress(&info);
    return true;
}

bool decode_jpeg(std::string_view jpeg, int width, int height, cv::Mat &out, std::string &error) {
    jpeg_decompress_struct info{};
    ErrorJump err{};
    if (!start_decompress(jpeg, info, err)) {
        error = std::string("not a readable JPEG: ") + err.message;
        return false;
    }
    if (static_cast<int>(info.image_width) != width ||
        static_cast<int>(info.image_height) != height) {
        error = "the JPEG is " + std::to_string(info.image_width) + "x" +
                std::to_string(info.image_height) + ", the header said " + std::to_string(width) +
                "x" + std::to_string(height);
        jpeg_destroy_decompress(&info);
        return false;
    }
    const bool gray = info.num_components == 1;
    info.out_color_space = gray ? JCS_GRAYSCALE : JCS_EXT_BGR;
    out.create(height, width, gray ? CV_8UC1 : CV_8UC3);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&info);
        error = std::string("corrupt JPEG: ") + err.message;
        return false;
    }
    jpeg_start_decompress(&info);
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = out.ptr(static_cast<int>(info.output_scanline));
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return true;
}

} // namespace tierd
