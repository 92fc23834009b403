import LabModel

extension Summary {
    /// nil for an empty sample.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let n = sorted.count
        let median = Statistics.quantile(sorted: sorted, 0.5)
        let mean = sorted.reduce(0, +) / Double(n)
        let standardDeviation = n > 1 ? (sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot() : 0
        self.init(
            n: n, min: sorted[0], median: median, mean: mean, standardDeviation: standardDeviation,
            p95: Statistics.quantile(sorted: sorted, 0.95), max: sorted[n - 1],
            mad: Statistics.quantile(sorted: sorted.map { abs($0 - median) }.sorted(), 0.5))
    }
}

public enum Statistics {
    /// The q-quantile of sorted values, interpolating linearly between the
    /// closest ranks (the "type 7" definition of R and NumPy's default).
    public static func quantile(sorted: [Double], _ q: Double) -> Double {
        precondition(!sorted.isEmpty, "quantile of an empty sample")
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = Swift.min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    public static func median(_ values: [Double]) -> Double {
        quantile(sorted: values.sorted(), 0.5)
    }

    /// Modified z-scores (Iglewicz and Hoaglin): 0.6745 (x - median) / MAD.
    /// hyperfine's outlier test; |z| > 3.5 marks an outlier.
    public static func modifiedZScores(_ values: [Double]) -> [Double] {
        guard !values.isEmpty else { return [] }
        let center = median(values)
        let mad = median(values.map { abs($0 - center) })
        guard mad > 0 else { return values.map { $0 == center ? 0 : .infinity } }
        return values.map { 0.6745 * ($0 - center) / mad }
    }

    /// Indices of the values whose modified z-score exceeds `threshold`.
    public static func outliers(_ values: [Double], threshold: Double = 3.5) -> [Int] {
        modifiedZScores(values).enumerated().filter { abs($0.element) > threshold }.map(\.offset)
    }
}
