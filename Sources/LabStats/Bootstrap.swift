import LabModel

/// A small seeded generator (SplitMix64), so that a bootstrap with the same
/// seed gives the same interval on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Percentile bootstrap confidence intervals.
public enum Bootstrap {
    /// The fewest values a group needs for an interval. One value resamples
    /// to itself, an interval of width zero that would decide any verdict;
    /// two give the span between them. Below this there is no interval.
    public static let minimumCount = 2

    /// Interval for the median of `values`; nil with fewer than `minimumCount`.
    public static func median(_ values: [Double], level: Double = 0.95, resamples: Int = 2000, seed: UInt64 = 1) -> Interval? {
        guard values.count >= minimumCount else { return nil }
        var generator = SeededGenerator(seed: seed)
        var estimates: [Double] = []
        estimates.reserveCapacity(resamples)
        var sample = [Double](repeating: 0, count: values.count)
        for _ in 0..<resamples {
            for i in sample.indices { sample[i] = values[Int.random(in: 0..<values.count, using: &generator)] }
            estimates.append(Statistics.median(sample))
        }
        return interval(estimates, level: level)
    }

    /// Interval for median(numerator) / median(denominator), resampling each
    /// group independently (the groups are separate trials); nil when either
    /// has fewer than `minimumCount` values.
    public static func ratioOfMedians(
        _ numerator: [Double], _ denominator: [Double], level: Double = 0.95, resamples: Int = 2000, seed: UInt64 = 1
    ) -> Interval? {
        guard numerator.count >= minimumCount, denominator.count >= minimumCount else { return nil }
        var generator = SeededGenerator(seed: seed)
        var estimates: [Double] = []
        estimates.reserveCapacity(resamples)
        var a = [Double](repeating: 0, count: numerator.count)
        var b = [Double](repeating: 0, count: denominator.count)
        for _ in 0..<resamples {
            for i in a.indices { a[i] = numerator[Int.random(in: 0..<numerator.count, using: &generator)] }
            for i in b.indices { b[i] = denominator[Int.random(in: 0..<denominator.count, using: &generator)] }
            let bottom = Statistics.median(b)
            if bottom != 0 { estimates.append(Statistics.median(a) / bottom) }
        }
        guard !estimates.isEmpty else { return nil }
        return interval(estimates, level: level)
    }

    static func interval(_ estimates: [Double], level: Double) -> Interval {
        let sorted = estimates.sorted()
        let tail = (1 - level) / 2
        return Interval(lower: Statistics.quantile(sorted: sorted, tail), upper: Statistics.quantile(sorted: sorted, 1 - tail), level: level)
    }
}
