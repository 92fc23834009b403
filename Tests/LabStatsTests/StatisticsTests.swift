import LabModel
import Testing

@testable import LabStats

@Suite("statistics against hand-computed values")
struct StatisticsTests {
    @Test func summaryOfASmallSample() throws {
        // sorted: 1 2 3 4 100; mean 22; sd sqrt(((21²+20²+19²+18²+78²)/4)) = sqrt(7610/4)
        let summary = try #require(Summary([3, 1, 100, 2, 4]))
        #expect(summary.n == 5)
        #expect(summary.min == 1 && summary.max == 100)
        #expect(summary.median == 3)
        #expect(summary.mean == 22)
        #expect(abs(summary.standardDeviation - (7610.0 / 4).squareRoot()) < 1e-12)
        // p95 at position 0.95 * 4 = 3.8: 4 + 0.8 * (100 - 4)
        #expect(abs(summary.p95 - 80.8) < 1e-12)
        // |x - 3| = 2 1 0 1 97 -> median 1
        #expect(summary.mad == 1)
    }

    @Test func evenSampleMedianInterpolates() {
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
        #expect(Statistics.quantile(sorted: [10, 20], 0.25) == 12.5)
    }

    @Test func singleValueHasNoSpread() throws {
        let summary = try #require(Summary([7]))
        #expect(summary.standardDeviation == 0 && summary.p95 == 7 && summary.mad == 0)
        #expect(Summary([]) == nil)
    }

    @Test func modifiedZScoreFlagsTheOutlier() {
        let values: [Double] = [3, 1, 100, 2, 4]
        // z(100) = 0.6745 * 97 / 1
        #expect(abs(Statistics.modifiedZScores(values)[2] - 65.4265) < 1e-9)
        #expect(Statistics.outliers(values) == [2])
        #expect(Statistics.outliers([1, 2, 3, 4, 5]).isEmpty)
    }

    @Test func theMediansIntervalCoversIt() throws {
        let values = (1...41).map(Double.init)
        let a = try #require(Exact.median(values))
        #expect(a.contains(21) && a.lower < 21 && a.upper > 21 && a.level >= 0.95)
        #expect(a.lower >= 1 && a.upper <= 41)
    }

    @Test func ratioIntervalContainsTheTrueRatio() throws {
        // Two samples whose medians are 10 and 40: the ratio is 4.
        var generator = SeededGenerator(seed: 3)
        let fast = (0..<30).map { _ in 10 + Double.random(in: -1...1, using: &generator) }
        let slow = (0..<30).map { _ in 40 + Double.random(in: -4...4, using: &generator) }
        let interval = try #require(Exact.ratio(slow, fast)?.interval())
        #expect(interval.contains(4))
        #expect(interval.upper - interval.lower < 1)
    }

    @Test func splitMixMatchesItsReferenceSequence() {
        // SplitMix64 seeded with 0: first output 0xE220A8397B1DCDAF.
        var generator = SeededGenerator(seed: 0)
        #expect(generator.next() == 0xE220_A839_7B1D_CDAF)
    }
}

@Suite("a target read from an interval")
struct CeilingTests {
    @Test func positionFlipsAsTheIntervalMovesPastTheCeiling() {
        #expect(Ceiling.position(of: Interval(lower: 1.5, upper: 1.9, level: 0.95), against: 2) == .below)
        #expect(Ceiling.position(of: Interval(lower: 1.8, upper: 2.1, level: 0.95), against: 2) == .straddles)
        #expect(Ceiling.position(of: Interval(lower: 2.1, upper: 2.4, level: 0.95), against: 2) == .above)
        // The ceiling itself counts as met: "at most 2 ×".
        #expect(Ceiling.position(of: Interval(lower: 1.9, upper: 2.0, level: 0.95), against: 2) == .below)
    }
}
