// What an MQTT 5 PUBACK reason code means for a spool entry: delivered, refused for good
// (delete it, count it), or refused for now (send it again later).
#pragma once

namespace tierd {

enum class PubackVerdict { delivered, refused, retry };

// Below 0x80 the broker accepted the message (0x10: no subscribers, still delivered).
// Refused for good are the refusals that will not change by sending the same message
// again: 0x87 not authorized, 0x90 topic name invalid, 0x95 packet too large (mosquitto's
// message_size_limit), 0x99 payload format invalid. Every other failure — 0x80
// unspecified, 0x83 implementation specific, 0x91 packet identifier in use, 0x97 quota
// exceeded, codes this version does not know — may pass: retried.
constexpr PubackVerdict classify_puback(int reason) {
    if (reason < 0x80)
        return PubackVerdict::delivered;
    switch (reason) {
    case 0x87:
    case 0x90:
    case 0x95:
    case 0x99: return PubackVerdict::refused;
    default: return PubackVerdict::retry;
    }
}

} // namespace tierd
