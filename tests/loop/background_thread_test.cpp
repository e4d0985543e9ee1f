// The loop thread first: pool work runs below the loop thread's priority.
#include "agent/loop/background_thread.hpp"
#include "agent/loop/loop_work.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <thread>

namespace {

int thread_nice() {
    return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
}

TEST(BackgroundThread, PoolWorkRunsBelowTheLoopThreadsPriority) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    const int loop_nice = thread_nice();
    int worker_nice = -100, after_nice = -100;
    bool ran_on_loop = false;
    tierd::queue_loop_work(
        &loop, [&] { worker_nice = thread_nice(); },
        [&] {
            ran_on_loop = true;
            after_nice = thread_nice();
        },
        "test");
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ASSERT_TRUE(ran_on_loop);
    EXPECT_EQ(worker_nice, std::min(19, loop_nice + tierd::kBackgroundNiceIncrement));
    EXPECT_EQ(after_nice, loop_nice) << "the loop thread itself keeps its priority";
}

TEST(BackgroundThread, LowersOnlyOnce) {
    int first = 0, second = 0, base = 0;
    std::thread([&] {
        base = thread_nice();
        tierd::run_in_background();
        first = thread_nice();
        tierd::run_in_background();
        second = thread_nice();
    }).join();
    EXPECT_EQ(first, std::min(19, base + tierd::kBackgroundNiceIncrement));
    EXPECT_EQ(second, first);
}

} // namespace
