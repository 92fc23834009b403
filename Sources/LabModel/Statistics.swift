/// Descriptive statistics of one sample, as the lab reports every metric
/// (computed by LabStats).
public struct Summary: Codable, Sendable, Equatable {
    public var n: Int
    public var min: Double
    public var median: Double
    public var mean: Double
    /// Sample standard deviation (n - 1); 0 for a single value.
    public var standardDeviation: Double
    public var p95: Double
    public var max: Double
    /// Median absolute deviation (unscaled).
    public var mad: Double

    public init(n: Int, min: Double, median: Double, mean: Double, standardDeviation: Double, p95: Double, max: Double, mad: Double) {
        self.n = n
        self.min = min
        self.median = median
        self.mean = mean
        self.standardDeviation = standardDeviation
        self.p95 = p95
        self.max = max
        self.mad = mad
    }

    /// Standard deviation relative to the mean.
    public var coefficientOfVariation: Double { mean == 0 ? 0 : standardDeviation / mean }
}

/// A confidence interval.
public struct Interval: Codable, Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    /// 0.95 for a 95 % interval.
    public var level: Double

    public init(lower: Double, upper: Double, level: Double) {
        self.lower = lower
        self.upper = upper
        self.level = level
    }

    public func contains(_ value: Double) -> Bool { lower <= value && value <= upper }
}

