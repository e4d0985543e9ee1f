// A test plugin written with tierd/plugin.hpp whose methods throw on request, so the
// tests can check that every exception comes back as an error code plus a message.
#include <tierd/plugin.hpp>

#include <new>
#include <stdexcept>
#include <string>

namespace {

class Throwing {
  public:
    static constexpr const char *name = "test-throwing";
    static constexpr const char *version = "0.0.1";
    static constexpr const char *description = "throws from its methods on request";
    static constexpr const char *const modes[] = {
        "none", "std", "tierd", "bad-alloc", "non-std", "ctor", "undeclared", "stop", nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_enum("mode", "none", modes, "what to throw, and from where"),
    };

    Throwing(tierd::Host host, const tierd::Config &config)
        : host_(host), mode_(config.get_string("mode")) {
        if (mode_ == "ctor")
            throw std::runtime_error("constructor exploded");
        if (mode_ == "undeclared")
            (void)config.get_int("no_such_key");
    }
    ~Throwing() { host_.info("destroyed"); }

    void stop() {
        if (mode_ == "stop")
            throw std::logic_error("stop exploded");
    }

    int infer(const tierd_task &, const char *, tierd_inference_result &out) {
        if (mode_ == "std")
            throw std::runtime_error("infer exploded");
        if (mode_ == "tierd")
            throw tierd::Error(TIERD_EBUSY, "model is being swapped");
        if (mode_ == "bad-alloc")
            throw std::bad_alloc();
        if (mode_ == "non-std")
            throw 42;
        out.top_class = 3;
        return TIERD_OK;
    }

  private:
    tierd::Host host_;
    std::string mode_;
};

} // namespace

TIERD_PLUGIN(Throwing, TIERD_KIND_INFERENCE)
