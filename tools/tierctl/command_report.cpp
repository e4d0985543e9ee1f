#include "tools/tierctl/command_report.hpp"

#include "tools/tierctl/table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

namespace tierctl {

namespace {

std::string missing_reason(const MissingDevice &m) {
    if (m.state == "offline")
        return "offline per its status";
    if (m.state == "unknown")
        return "no status on the broker: is the device id right?";
    return m.state + " per its status, but no answer";
}

nlohmann::json result_of(const ReplyRecord &r) {
    return r.reply.is_object() ? r.reply.value("result", nlohmann::json()) : nlohmann::json();
}

void report_single(const CommandOutcome &outcome, const ResultView &view) {
    const ReplyRecord *mine = nullptr;
    for (const auto &r : outcome.replies)
        if (r.expected)
            mine = &r;
    if (mine && mine->ok) {
        if (view.single)
            view.single(std::cout, result_of(*mine));
        else
            std::cout << result_of(*mine).dump(2) << "\n";
    } else if (mine) {
        std::cerr << fmt::format("tierctl: {} answered {} with an error: {}\n", mine->device_id,
                                 outcome.op, mine->error_text());
    }
    for (const auto &m : outcome.missing)
        std::cerr << fmt::format("tierctl: no answer from {} within {:.1f} s ({})\n", m.device_id,
                                 outcome.elapsed_ms / 1000.0, missing_reason(m));
    for (const auto &r : outcome.replies)
        if (!r.expected)
            std::cerr << fmt::format("tierctl: unexpected answer from {}: {}\n",
                                     r.device_id.empty() ? "?" : r.device_id,
                                     r.ok ? result_of(r).dump() : r.error_text());
}

void report_table(const CommandOutcome &outcome, const ResultView &view) {
    Table table({"DEVICE", "REPLY", "MS", "RESULT"});
    // Rows by device id, easier to scan than arrival order (--json keeps that).
    std::vector<const ReplyRecord *> rows;
    for (const auto &r : outcome.replies)
        rows.push_back(&r);
    std::stable_sort(rows.begin(), rows.end(), [](const ReplyRecord *a, const ReplyRecord *b) {
        return a->device_id < b->device_id;
    });
    for (const ReplyRecord *row : rows) {
        const ReplyRecord &r = *row;
        std::string reply = r.ok ? "ok" : (r.problem.empty() ? "error" : "bad");
        if (!r.expected)
            reply += " (unexpected)";
        std::string detail =
            r.ok ? (view.cell ? view.cell(result_of(r)) : result_of(r).dump()) : r.error_text();
        table.add({r.device_id.empty() ? "?" : r.device_id, reply,
                   fmt::format("{:.1f}", r.latency_ms), detail});
    }
    for (const auto &m : outcome.missing)
        table.add({m.device_id, "no answer", "-", missing_reason(m)});
    table.print(std::cout);

    size_t errors = outcome.replies.size() - outcome.ok_count();
    std::string summary =
        fmt::format("{}: {} of {} expected answered ok", outcome.target.describe(),
                    outcome.ok_count(), outcome.expected.size());
    if (errors)
        summary += fmt::format(", {} error(s)", errors);
    if (!outcome.missing.empty()) {
        std::vector<std::string> names;
        for (const auto &m : outcome.missing)
            names.push_back(m.device_id + " (" + m.state + ")");
        summary += fmt::format("; no answer: {}", fmt::join(names, ", "));
    }
    if (!outcome.membership_unknown.empty())
        summary += fmt::format("; group membership unknown: {}",
                               fmt::join(outcome.membership_unknown, ", "));
    std::cout << summary << "\n";
}

} // namespace

int report_outcome(const CommandOutcome &outcome, bool json, const ResultView &view) {
    if (json)
        std::cout << outcome.to_json().dump(2) << "\n";
    else if (outcome.target.kind == Target::Kind::device)
        report_single(outcome, view);
    else
        report_table(outcome, view);
    return outcome.exit_code();
}

} // namespace tierctl
