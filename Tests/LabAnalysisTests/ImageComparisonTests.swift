import LabAnalysis
import LabModel
import LabTestSupport
import Testing

@Suite("images compared: per image and backend, and the per-instance disk verdict")
struct ImageComparisonTests {
    func run(vmKiB: [Double], containerKiB: [Double], ready: Double = 9) -> RunResults {
        var synthetic = Synthetic()
        synthetic.add(.vm, "resources", "disk_instance", vmKiB, unit: "KiB")
        synthetic.add(.container, "resources", "disk_instance", containerKiB, unit: "KiB")
        synthetic.add(.container, "startup", "ready", around(ready, count: 6))
        return synthetic.results
    }

    @Test func theDiskVerdictFlipsWithTheData() {
        let comparison = ImageComparison([
            ("more", run(vmKiB: around(332, count: 6), containerKiB: around(24, count: 6))),
            ("same", run(vmKiB: around(24, spread: 0.05, count: 6), containerKiB: around(24, spread: 0.05, count: 6))),
            ("less", run(vmKiB: around(8, count: 6), containerKiB: around(24, count: 6))),
            ("few", run(vmKiB: around(332, count: 3), containerKiB: around(24, count: 3))),
            // Just above 1 with a tight spread: still shown; just the same: not.
            ("edge", run(vmKiB: around(25, spread: 0.005, count: 6), containerKiB: around(24, spread: 0.005, count: 6))),
        ])
        let verdicts = Dictionary(uniqueKeysWithValues: comparison.diskRatios.map { ($0.image, $0.verdict) })
        #expect(verdicts["more"] == "holds")
        #expect(verdicts["same"]?.hasPrefix("inconclusive") == true)
        #expect(verdicts["less"] == "does not hold")
        #expect(verdicts["few"] == "inconclusive: too few trials (n = 3 and 3; needs 4 each)")
        #expect(verdicts["edge"] == "holds")
        #expect(comparison.accelerators == ["tcg"])
    }

    /// A median's interval needs six trials; the rows say so with nil, not a guess.
    @Test func rowsCarryMediansAndTheirExactIntervals() throws {
        let comparison = ImageComparison([("one", run(vmKiB: around(332, count: 6), containerKiB: around(24, count: 6), ready: 10))])
        let container = try #require(comparison.rows.first { $0.backend == .container })
        #expect(abs((container.readyMs ?? 0) - 10) < 0.5)
        let interval = try #require(container.readyInterval)
        #expect(interval.lower <= 10 && interval.upper >= 10 && interval.level >= 0.95)
        let vm = try #require(comparison.rows.first { $0.backend == .vm })
        #expect(vm.readyMs == nil && vm.readyInterval == nil)
    }
}
