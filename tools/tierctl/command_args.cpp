#include "tools/tierctl/command_args.hpp"

#include "tools/tierctl/exit_codes.hpp"

namespace tierctl {

nlohmann::json parse_value(const std::string &text) {
    auto value = nlohmann::json::parse(text, nullptr, false);
    return value.is_discarded() ? nlohmann::json(text) : value;
}

nlohmann::json parse_arguments(const std::vector<std::string> &assignments,
                               const std::string &args_json) {
    nlohmann::json args = nlohmann::json::object();
    if (!args_json.empty()) {
        args = nlohmann::json::parse(args_json, nullptr, false);
        if (args.is_discarded() || !args.is_object())
            throw UsageError(
                "--args must be a JSON object, e.g. '{\"name\": \"fusion-passthrough\"}'");
    }
    for (const auto &word : assignments) {
        auto eq = word.find('=');
        if (eq == std::string::npos || eq == 0)
            throw UsageError("\"" + word + "\" is not KEY=VALUE");
        args[word.substr(0, eq)] = parse_value(word.substr(eq + 1));
    }
    return args;
}

const nlohmann::json *find_dotted(const nlohmann::json &doc, const std::string &path) {
    const nlohmann::json *node = &doc;
    size_t start = 0;
    while (true) {
        size_t dot = path.find('.', start);
        std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
        if (!node->is_object())
            return nullptr;
        auto it = node->find(part);
        if (it == node->end())
            return nullptr;
        node = &*it;
        if (dot == std::string::npos)
            return node;
        start = dot + 1;
    }
}

} // namespace tierctl
