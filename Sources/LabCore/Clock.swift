import LabModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic host time in nanoseconds: the clock of every timeline.
public enum MonotonicClock {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

extension Timeline {
    /// Records `name` now, on the monotonic clock.
    public mutating func mark(_ name: String) {
        mark(name, at: MonotonicClock.now())
    }
}
