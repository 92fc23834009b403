import Foundation
import LabModel

/// Rank-based, exact intervals and tests for the few trials a lab runs.
///
/// Why not the percentile bootstrap: with 2 trials a side its "95 %"
/// interval is [min, max] of the ratios, and simulated with no true
/// difference it excludes 1 about a third of the time (10 % at 3 a side,
/// 7 % at 4). The methods here are exact and distribution-free when the two
/// groups have the same shape: the Hodges–Lehmann ratio with the Moses
/// interval (the interval dual to the Mann–Whitney test), on log scale. At
/// too few trials no finite interval reaches the level, and the answer is
/// nil: "too few trials" follows from the arithmetic, not from a constant.
/// docs/claims.md has the simulation behind the choice, and
/// `ExactCoverageTests` repeats it on every test run.
public enum Exact {
    // MARK: - the Mann–Whitney null distribution

    /// P(U ≤ u) for u = 0 … m·n, U the number of pairs (x, y) with x > y
    /// when the m + n values are exchangeable (no true difference).
    /// Exact by counting (c(i, j, u) = c(i−1, j, u−j) + c(i, j−1, u): the
    /// largest of i + j values is either an x above all j y's or a y) up to
    /// m·n = 2,500; the normal approximation with continuity correction
    /// beyond, where it is accurate to well under a tenth of a point.
    public static func nullCDF(_ m: Int, _ n: Int) -> [Double] {
        precondition(m > 0 && n > 0, "two non-empty groups")
        let top = m * n
        if top > 2500 {
            let mean = Double(top) / 2, sd = (Double(top) * Double(m + n + 1) / 12).squareRoot()
            return (0...top).map { u in 0.5 * erfc(-((Double(u) + 0.5 - mean) / sd) / 2.0.squareRoot()) }
        }
        // rows[j][u] = c(i, j, u) for the current i.
        var previous = [[Double]](repeating: [1], count: n + 1)  // i = 0: only u = 0
        for i in 1...m {
            var row: [[Double]] = [[1]]  // j = 0: only u = 0
            for j in 1...n {
                var counts = [Double](repeating: 0, count: i * j + 1)
                let above = previous[j]  // c(i−1, j, ·), shifted by j
                for (u, c) in above.enumerated() { counts[u + j] += c }
                let left = row[j - 1]  // c(i, j−1, ·)
                for (u, c) in left.enumerated() { counts[u] += c }
                row.append(counts)
            }
            previous = row
        }
        let counts = previous[n]
        let total = counts.reduce(0, +)
        var cumulative: [Double] = []
        cumulative.reserveCapacity(counts.count)
        var sum = 0.0
        for c in counts {
            sum += c
            cumulative.append(Swift.min(1, sum / total))
        }
        return cumulative
    }

    /// The fewest trials per group, with equal groups, for which an exact
    /// two-sided interval can reach `level`: 4 for 95 % (1 − 2/C(8, 4) =
    /// 97.1 %), 3 for 90 %.
    public static func minimumPerGroup(level: Double = 0.95) -> Int {
        var n = 1
        while 2 / binomial(2 * n, n) > 1 - level + 1e-12 { n += 1 }
        return n
    }

    static func binomial(_ n: Int, _ k: Int) -> Double {
        (0..<k).reduce(1.0) { $0 * Double(n - $1) / Double($1 + 1) }
    }

    // MARK: - two groups: the ratio

    /// The Hodges–Lehmann ratio of two positive samples, its exact interval
    /// and tests.
    public struct Ratio: Sendable, Equatable {
        /// exp of the median of every pairwise log difference: the typical
        /// numerator/denominator ratio.
        public var ratio: Double
        /// The sorted pairwise log differences log a_i − log b_j.
        public var differences: [Double]
        public var numeratorCount: Int
        public var denominatorCount: Int
        /// P(U ≤ u) under no difference.
        let cdf: [Double]

        /// The exact (Moses) interval at `level` or more, with the level it
        /// achieves; nil when no finite interval reaches it (too few trials).
        public func interval(level: Double = 0.95) -> Interval? {
            let tail = (1 - level) / 2
            let total = differences.count
            guard cdf[0] <= tail + 1e-12 else { return nil }
            var k = 1
            while k < (total + 1) / 2, cdf[k] <= tail + 1e-12 { k += 1 }
            return Interval(lower: Foundation.exp(differences[k - 1]), upper: Foundation.exp(differences[total - k]),
                            level: 1 - 2 * cdf[k - 1])
        }

        /// P(a ratio this high or higher) if the true ratio were `r`:
        /// small when the data show the ratio above r. Pairs whose ratio is
        /// exactly r count against the claim.
        public func pAbove(_ r: Double) -> Double {
            let cut = Foundation.log(r)
            let strictly = differences.count(where: { $0 > cut })
            return strictly == 0 ? 1 : 1 - cdf[strictly - 1]
        }

        /// P(a ratio this low or lower) if the true ratio were `r`.
        public func pBelow(_ r: Double) -> Double {
            let cut = Foundation.log(r)
            let atLeast = differences.count(where: { $0 >= cut })
            return cdf[atLeast]
        }

        /// The exact two-sided p-value of "no difference" (ratio 1).
        public var p: Double { Swift.min(1, 2 * Swift.min(pAbove(1), pBelow(1))) }

        public enum Direction: String, Sendable { case above, below }

        /// Whether the ratio is shown above or below 1 at `level`: the exact
        /// interval excludes 1 and, when the groups' counts differ (where a
        /// rank method is not exact if one group is noisier), Yuen's
        /// trimmed Welch interval on the logs excludes it on the same side.
        public func direction(level: Double = 0.95) -> Direction? {
            guard let interval = interval(level: level) else { return nil }
            let side: Direction? = interval.lower > 1 ? .above : (interval.upper < 1 ? .below : nil)
            guard let side else { return nil }
            if numeratorCount == denominatorCount { return side }
            guard let trimmed = Exact.yuen(self, level: level) else { return nil }
            return (side == .above ? trimmed.lower > 0 : trimmed.upper < 0) ? side : nil
        }

        /// Whether the guard of unequal counts withheld a direction the rank interval gave.
        public func guardWithheld(level: Double = 0.95) -> Bool {
            guard let interval = interval(level: level), interval.lower > 1 || interval.upper < 1 else { return false }
            return direction(level: level) == nil
        }

        let logNumerator: [Double], logDenominator: [Double]
    }

    /// nil when a group is empty or holds a value ≤ 0 (no log ratio).
    public static func ratio(_ numerator: [Double], _ denominator: [Double]) -> Ratio? {
        guard !numerator.isEmpty, !denominator.isEmpty, numerator.allSatisfy({ $0 > 0 && $0.isFinite }),
              denominator.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        let x = numerator.map { Foundation.log($0) }, y = denominator.map { Foundation.log($0) }
        var differences: [Double] = []
        differences.reserveCapacity(x.count * y.count)
        for a in x { for b in y { differences.append(a - b) } }
        differences.sort()
        return Ratio(ratio: Foundation.exp(Statistics.quantile(sorted: differences, 0.5)), differences: differences,
                     numeratorCount: x.count, denominatorCount: y.count, cdf: nullCDF(x.count, y.count),
                     logNumerator: x, logDenominator: y)
    }

    // MARK: - equivalence

    /// Where a ratio lies against a band stated beforehand (two one-sided
    /// exact tests at `alpha` each, the same as the exact interval at
    /// 1 − 2·alpha lying inside the band).
    public enum Equivalence: String, Sendable {
        /// Shown inside the band.
        case inside
        /// Shown below its lower end.
        case below
        /// Shown above its upper end.
        case above
        /// Neither shown.
        case undecided
        /// Too few values for any test at this level.
        case tooFew
    }

    public static func equivalence(_ ratio: Ratio, band: ClosedRange<Double>, alpha: Double = 0.05) -> Equivalence {
        guard ratio.interval(level: 1 - 2 * alpha) != nil else { return .tooFew }
        if Swift.max(ratio.pAbove(band.lowerBound), ratio.pBelow(band.upperBound)) <= alpha { return .inside }
        if ratio.pBelow(band.lowerBound) <= alpha { return .below }
        if ratio.pAbove(band.upperBound) <= alpha { return .above }
        return .undecided
    }

    // MARK: - one group: the median

    /// The exact distribution-free interval of one sample's median:
    /// [x(k), x(n+1−k)] with coverage 1 − 2·P(Bin(n, ½) ≤ k − 1). nil below
    /// six values, where no such interval reaches 95 %.
    public static func median(_ values: [Double], level: Double = 0.95) -> Interval? {
        let n = values.count
        guard n > 0, let k = orderStatistic(n, tail: (1 - level) / 2) else { return nil }
        let sorted = values.sorted()
        return Interval(lower: sorted[k - 1], upper: sorted[n - k], level: 1 - 2 * halfBinomialCDF(n)[k - 1])
    }

    /// P(Bin(n, ½) ≤ i) for i = 0 … n.
    static func halfBinomialCDF(_ n: Int) -> [Double] {
        var cdf: [Double] = []
        var sum = 0.0
        for i in 0...n {
            sum += binomial(n, i) / Foundation.pow(2, Double(n))
            cdf.append(sum)
        }
        return cdf
    }

    /// The largest k with P(Bin(n, ½) ≤ k − 1) ≤ `tail`: x(k) and
    /// x(n+1−k) bound the median with that much left out on each side; nil
    /// when even k = 1 leaves out more.
    static func orderStatistic(_ n: Int, tail: Double) -> Int? {
        let cdf = halfBinomialCDF(n)
        guard cdf[0] <= tail + 1e-12 else { return nil }
        var k = 1
        while k < (n + 1) / 2, cdf[k] <= tail + 1e-12 { k += 1 }
        return k
    }

    /// A one-sided bound of one sample's median at `level`: the upper bound
    /// x(n+1−k) (or the lower x(k)) with P(Bin(n, ½) ≤ k − 1) ≤ 1 − level.
    /// nil when no order statistic reaches the level: fewer than five
    /// values at 95 % (five give the maximum, at 96.9 %).
    public static func medianBound(_ values: [Double], upper: Bool, level: Double = 0.95) -> Double? {
        let n = values.count
        guard n > 0, let k = orderStatistic(n, tail: 1 - level) else { return nil }
        let sorted = values.sorted()
        return upper ? sorted[n - k] : sorted[k - 1]
    }

    /// The fewest values for a one-sided bound of a median at `level`: 5 at 95 %.
    public static func minimumForMedianBound(level: Double = 0.95) -> Int {
        var n = 1
        while Foundation.pow(0.5, Double(n)) > 1 - level { n += 1 }
        return n
    }

    // MARK: - many metrics

    /// Holm–Bonferroni step-down over `p`: which hypotheses are rejected at
    /// family-wise error `alpha`, and the adjusted p-values.
    public static func holm(_ p: [Double], alpha: Double = 0.05) -> (rejected: [Bool], adjusted: [Double]) {
        let order = p.indices.sorted { p[$0] < p[$1] }
        var rejected = [Bool](repeating: false, count: p.count), adjusted = [Double](repeating: 1, count: p.count)
        var running = 0.0, stillRejecting = true
        for (step, index) in order.enumerated() {
            let factor = Double(p.count - step)
            running = Swift.max(running, Swift.min(1, factor * p[index]))
            adjusted[index] = running
            if stillRejecting && p[index] <= alpha / factor { rejected[index] = true } else { stillRejecting = false }
        }
        return (rejected, adjusted)
    }

    // MARK: - the guard for unequal counts

    /// Student's t p-quantile with `degreesOfFreedom` (p in (0.5, 1)).
    public static func studentTQuantile(_ p: Double, degreesOfFreedom: Double) -> Double {
        StudentT.quantile(p, degreesOfFreedom: degreesOfFreedom)
    }

    /// Yuen's 20 %-trimmed Welch interval for the difference of the groups'
    /// log locations; nil when a group has fewer than two values left.
    static func yuen(_ ratio: Ratio, level: Double) -> Interval? {
        func trimmed(_ values: [Double]) -> (mean: Double, d: Double, h: Int)? {
            let sorted = values.sorted(), n = sorted.count, g = n / 5, h = n - 2 * g
            guard h >= 2 else { return nil }
            let middle = sorted[g..<(n - g)]
            let mean = middle.reduce(0, +) / Double(h)
            let winsorised = sorted.enumerated().map { i, v in i < g ? sorted[g] : (i >= n - g ? sorted[n - g - 1] : v) }
            let wMean = winsorised.reduce(0, +) / Double(n)
            let variance = winsorised.reduce(0) { $0 + ($1 - wMean) * ($1 - wMean) } / Double(n - 1)
            return (mean, Double(n - 1) * variance / Double(h * (h - 1)), h)
        }
        guard let a = trimmed(ratio.logNumerator), let b = trimmed(ratio.logDenominator) else { return nil }
        let difference = a.mean - b.mean, variance = a.d + b.d
        guard variance > 0 else { return Interval(lower: difference, upper: difference, level: level) }
        let df = variance * variance / (a.d * a.d / Double(a.h - 1) + b.d * b.d / Double(b.h - 1))
        let t = StudentT.quantile(1 - (1 - level) / 2, degreesOfFreedom: df)
        let half = t * variance.squareRoot()
        return Interval(lower: difference - half, upper: difference + half, level: level)
    }
}

/// Student's t distribution, for the guard's interval.
enum StudentT {
    /// P(T ≤ t) with ν degrees of freedom, through the regularised incomplete beta function.
    static func cdf(_ t: Double, degreesOfFreedom ν: Double) -> Double {
        let x = ν / (ν + t * t)
        let tail = 0.5 * incompleteBeta(x, ν / 2, 0.5)
        return t > 0 ? 1 - tail : tail
    }

    /// The p-quantile (p in (0.5, 1)) by bisection on the CDF.
    static func quantile(_ p: Double, degreesOfFreedom ν: Double) -> Double {
        var (low, high) = (0.0, 1.0)
        while cdf(high, degreesOfFreedom: ν) < p { high *= 2 }
        for _ in 0..<100 {
            let mid = (low + high) / 2
            if cdf(mid, degreesOfFreedom: ν) < p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// I_x(a, b), by its continued fraction (modified Lentz).
    static func incompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        if x > (a + 1) / (a + b + 2) { return 1 - incompleteBeta(1 - x, b, a) }
        let logGammas: Double = Foundation.lgamma(a + b) - Foundation.lgamma(a) - Foundation.lgamma(b)
        let logPowers: Double = a * Foundation.log(x) + b * Foundation.log(1 - x)
        let front = Foundation.exp(logGammas + logPowers)
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var f = d
        for m in 1...300 {
            let m = Double(m)
            var numerator: Double = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + numerator * d; if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c; if abs(c) < tiny { c = tiny }
            d = 1 / d; f *= d * c
            let upper: Double = -(a + m) * (a + b + m) * x
            numerator = upper / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + numerator * d; if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            f *= delta
            if abs(delta - 1) < 1e-14 { break }
        }
        return front * f / a
    }
}
