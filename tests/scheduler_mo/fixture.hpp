// A small hand-written profile set whose predictions are easy to compute by hand.
//
//   end:   cnn-xs (light, top1 0.86, 0.5 ms), resnet-20 (0.92, 10 ms, cut 5: 1000 values,
//          head 3 ms / tail 7 ms, int8 agreement 0.99)
//   edge:  cnn-xs (0.1 ms), resnet-20 (1 ms, cut 5: head 0.3 / tail 0.7)
//   cloud: resnet-20 (0.93, 0.5 ms, cut 5: head 0.15 / tail 0.35), resnet-56 (0.95, 1.5 ms)
#pragma once

#include "core/options.hpp"

#include <string>

namespace scheduler_mo::testing {

inline const char *kFixtureProfiles = R"({
  "end": {"v":1,"device_id":"pi-1","tier":"end","slowdown":1.0,"runs":20,"models":[
    {"name":"cnn-xs","top1":0.86,"input_bytes":784,"full_ms":0.5,"cuts":[]},
    {"name":"resnet-20","top1":0.92,"input_bytes":784,"full_ms":10.0,"cuts":[
      {"layer":5,"elements":1000,"head_ms":3.0,"tail_ms":7.0,"int8_agreement":0.99}]}]},
  "edge": {"v":1,"device_id":"edge-1","tier":"edge","slowdown":1.0,"runs":20,"models":[
    {"name":"cnn-xs","top1":0.86,"input_bytes":784,"full_ms":0.1},
    {"name":"resnet-20","top1":0.92,"input_bytes":784,"full_ms":1.0,"cuts":[
      {"layer":5,"elements":1000,"head_ms":0.3,"tail_ms":0.7,"int8_agreement":0.99}]}]},
  "cloud": {"v":1,"device_id":"cloud-1","tier":"cloud","slowdown":1.0,"runs":20,"models":[
    {"name":"resnet-20","top1":0.93,"input_bytes":784,"full_ms":0.5,"cuts":[
      {"layer":5,"elements":1000,"head_ms":0.15,"tail_ms":0.35,"int8_agreement":0.99}]},
    {"name":"resnet-56","top1":0.95,"input_bytes":784,"full_ms":1.5}]}
})";

inline Settings fixture_settings() {
    Settings settings;
    settings.light_model = "cnn-xs";
    return settings;
}

inline DevicePower fixture_power() {
    return DevicePower{2.0, 1.0, 0.5};
}

// Edge: 10 Mbit/s, rtt 5 ms, queue 1 ms; cloud: 20 Mbit/s, rtt 40 ms, queue 2 ms.
inline Context fixture_context() {
    Context context;
    context.edge = TierLink{true, 10e6, 5, 1};
    context.cloud = TierLink{true, 20e6, 40, 2};
    return context;
}

} // namespace scheduler_mo::testing
