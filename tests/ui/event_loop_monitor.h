#pragma once
// Measures how long the GUI event loop goes without turning over: a 5 ms timer notes the wall-clock
// gap between its ticks and the CPU time the GUI thread spent in that gap. The CPU time is the
// stall our own code causes (work done on the GUI thread without returning to the loop); the wall
// gap also includes the time the OS gave the thread's core to others.
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <algorithm>
#include <ctime>

namespace sptest {

class EventLoopMonitor : public QObject {
public:
    explicit EventLoopMonitor(QObject* parent = nullptr) : QObject(parent)
    {
        timer_.setInterval(5);
        timer_.setTimerType(Qt::PreciseTimer);
        connect(&timer_, &QTimer::timeout, this, [this] { tick(); });
    }

    void start()
    {
        maxWallMs_ = maxCpuMs_ = 0.0;
        ticks_ = 0;
        wall_.start();
        total_.start();
        lastCpuMs_ = threadCpuMs();
        timer_.start();
    }
    void stop() { timer_.stop(); }

    double maxWallGapMs() const { return maxWallMs_; }
    double maxCpuGapMs() const { return maxCpuMs_; }
    double maxWallGapAtMs() const { return maxWallAtMs_; } // when it ended, since start()
    double elapsedMs() const { return double(total_.nsecsElapsed()) / 1e6; }
    int ticks() const { return ticks_; }

private:
    static double threadCpuMs()
    {
        timespec now{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        return double(now.tv_sec) * 1e3 + double(now.tv_nsec) / 1e6;
    }

    void tick()
    {
        const double wallMs = double(wall_.nsecsElapsed()) / 1e6;
        wall_.restart();
        const double cpuMs = threadCpuMs();
        // The timer's own period is not a stall.
        if (wallMs - timer_.interval() > maxWallMs_) {
            maxWallMs_ = wallMs - timer_.interval();
            maxWallAtMs_ = double(total_.nsecsElapsed()) / 1e6;
        }
        maxCpuMs_ = std::max(maxCpuMs_, cpuMs - lastCpuMs_);
        lastCpuMs_ = cpuMs;
        ++ticks_;
    }

    QTimer timer_;
    QElapsedTimer wall_;
    QElapsedTimer total_;
    double maxWallAtMs_ = 0.0;
    double lastCpuMs_ = 0.0;
    double maxWallMs_ = 0.0;
    double maxCpuMs_ = 0.0;
    int ticks_ = 0;
};

} // namespace sptest
