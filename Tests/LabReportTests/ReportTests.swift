import CSV
import Foundation
import LabAnalysis
import LabModel
import LabStats
import LabTestSupport
import Testing

@testable import LabReport

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// Foundation only: this target links no lab library but the models, the statistics and the reports.
func readText(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

@Suite("reports from a committed results.json")
struct ReportTests {
    func fixture() throws -> RunResults { try RunResults.load(file: fixtures + "/results.json") }

    /// The golden files are what `isolab report` writes for the fixture
    /// (`scripts/update-golden` rewrites them after an intended change;
    /// review the diff): this test only reads them.
    @Test func reRenderingGivesTheGoldenFiles() throws {
        let results = try fixture().summarizedFromTrials()
        #expect(try CSVReport.samples(results) == readText(fixtures + "/golden/samples.csv"))
        #expect(try CSVReport.summary(results) == readText(fixtures + "/golden/summary.csv"))
        #expect(HTMLReport.render(results) == (try readText(fixtures + "/golden/report.html")))
    }

    @Test func csvParsesAndAgreesWithTheJSON() throws {
        let results = try fixture()
        let reader = try CSVReader(string: try CSVReport.samples(results), hasHeaderRow: true)
        var rows = 0
        while let row = reader.next() {
            guard let header = reader.headerRow else { break }
            let field = Dictionary(uniqueKeysWithValues: zip(header, row))
            guard let index = Int(field["trial"] ?? ""), let trial = results.trials.first(where: { $0.index == index }) else {
                Issue.record("row without its trial: \(row)")
                continue
            }
            #expect(field["backend"] == trial.backend.rawValue)
            if let value = Double(field["value"] ?? "") {
                let sample = trial.samples.first { $0.workload == field["workload"] && $0.metric == field["metric"] }
                #expect(sample.map { abs($0.value - value) <= abs($0.value) * 1e-5 } == true)
            }
            rows += 1
        }
        #expect(rows == results.trials.map { max($0.samples.count, $0.error == nil ? 0 : 1) }.reduce(0, +))
    }

    @Test func htmlIsSelfContainedWithEveryChartAndTheClaims() throws {
        let html = HTMLReport.render(try fixture())
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)
        #expect(html.contains("<table id=\"claims\">"))
        for claim in ["starts in seconds", "host's kernel", "lighter", "hardware directly", "PID namespaces", "cgroups limit", "cgroups freeze"] {
            #expect(html.contains(claim), "claim missing: \(claim)")
        }
        let outside = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!outside.contains("http:") && !outside.contains("https:") && !outside.contains("src=") && !outside.contains("<link")
                && !outside.contains("<script") && !outside.contains("@import"))
    }

    @Test func anotherSchemaVersionIsRefused() throws {
        let path = NSTemporaryDirectory() + "isolab-schema-\(getpid()).json"
        defer { unlink(path) }
        try "{\"schema_version\": 99}".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try RunResults.load(file: path)
            Issue.record("accepted schema 99")
        } catch let error as LabError {
            #expect(error.code == .invalidInput && error.message.contains("schema_version 99; this lab reads 2"))
        }
    }

    @Test func compareSaysWhatIsBeyondNoise() throws {
        var run = Synthetic()
        run.add(.bare, "startup", "ready", around(2, spread: 0.1, count: 5))
        run.add(.vm, "startup", "ready", around(4500, spread: 0.1, count: 5))
        let a = run.results
        // B's VM trials took twice as long: the samples change, and the summary follows them.
        var b = a
        b.trials = a.trials.map { trial in
            var changed = trial
            if trial.backend == .vm { changed.samples = trial.samples.map { var doubled = $0; doubled.value *= 2; return doubled } }
            return changed
        }
        let text = Compare.render(a, b)
        let vmLine = text.split(separator: "\n").first { $0.hasPrefix("vm") && $0.contains("startup.ready") }
        #expect(vmLine?.contains("+100.0 %") == true && vmLine?.contains("beyond noise") == true, "\(text)")
        let bareLine = text.split(separator: "\n").first { $0.hasPrefix("bare") && $0.contains("startup.ready") }
        #expect(bareLine?.contains("within noise") == true, "\(text)")
        // The committed fixture has two trials a backend: too few to say either.
        let fixture = try fixture()
        #expect(Compare.render(fixture, fixture).contains("undecided: too few trials (n = 2 and 2; needs 4 each)"))
    }

    @Test func claimsOfTheFixture() throws {
        let claims = Claims.evaluate(try fixture())
        #expect(claims.count == 18)
        #expect(Set(claims.map(\.id)).count == claims.count)
        func verdict(_ id: String) -> Claim.Verdict? { claims.first { $0.id == id }?.verdict }
        #expect(verdict("kernel") == .holds)
        // Two trials a backend: no exact interval reaches 95 %.
        #expect(claims.first { $0.id == "startup" }?.verdictText == "inconclusive: too few trials (n = 2 and 2; needs 4 each)")
        #expect(verdict("namespace.uts") == .partlyHolds)  // the kernel's version is the host's
        #expect(verdict("density") == .notMeasured)
        #expect(verdict("startup.full-os") == .notMeasured)  // no whole OS in this run
        for claim in claims where claim.verdict != .notMeasured {
            #expect(!claim.evidence.isEmpty && claim.measured != "-", "\(claim.id)")
        }
    }

    /// The fixture's container trials copied as `runc` trials, their READY
    /// scaled by `factor`: the peer section and its ratio follow the data.
    func withRuncPeer(readyFactor factor: Double) throws -> RunResults {
        var results = try fixture()
        let peers = results.trials.filter { $0.backend == .container }.map { trial -> TrialRecord in
            var peer = trial
            peer.backend = .runc
            peer.index += 10_000
            peer.samples = trial.samples.map { sample in
                var scaled = sample
                if sample.metric == "ready" { scaled.value *= factor }
                return scaled
            }
            return peer
        }
        results.trials += peers
        results.backends.append(.runc)
        results.environment.skippedPeers = ["crun": "crun did not run the agent here (exited with 1): cgroups in hybrid mode not supported"]
        return results.summarizedFromTrials()
    }

    @Test func peerSectionHoldsTheLabAgainstEachPeer() throws {
        let slower = try withRuncPeer(readyFactor: 4)
        let html = HTMLReport.render(slower)
        #expect(html.contains("<table id=\"peer-table\">"))
        #expect(html.contains("skipped: crun did not run the agent here"))
        #expect(html.contains("Launch to READY, bare process and containers") && html.contains("Launch to READY, VMs"))
        let ratio = try #require(slower.ratio(.container, over: .runc, "startup", "ready"))
        #expect(abs(ratio.ratio - 0.25) < 1e-9)
        #expect(TextReport.render(slower).contains("container / runc, launch to READY: 0.25 ×"))
        // The data flips, the ratio flips: a faster peer puts the lab's container above 1.
        let faster = try withRuncPeer(readyFactor: 0.5)
        #expect(try #require(faster.ratio(.container, over: .runc, "startup", "ready")).ratio > 1)
        // No peers, no section.
        #expect(!HTMLReport.render(try fixture()).contains("peer-table"))
    }

    /// {one process, whole OS} x {container, VM}: the matrix, its ratios, the
    /// phases and the slowest units, from the trials; no whole OS, no matrix.
    @Test func theFullOSMatrixIsRenderedFromItsTrials() throws {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(4500))
        #expect(!HTMLReport.render(run.results).contains("full-os-table"))
        run.add(.systemContainer, "startup", "ready", around(300))
        run.add(.osVM, "startup", "ready", around(30_000), accelerator: .tcg)
        var results = run.results
        let boot = BootRecord(initSystem: "systemd", clock: "guest monotonic", firmwareUs: 0, loaderUs: 0, kernelUs: 0, initrdUs: 0,
                              userspaceUs: 8_000_000, finishUs: 27_000_000, analyze: "Startup finished in 8.000s (kernel) + 19.000s (userspace) = 27.000s",
                              blame: [BootRecord.Unit(unit: "dev-vda.device", ms: 12_600, text: "12.600s")])
        #expect(boot.phasesMs.map(\.0) == ["kernel", "userspace"] && boot.phasesMs.map(\.1) == [8000, 19000])
        for index in results.trials.indices where results.trials[index].backend == .osVM {
            results.trials[index].boot = boot
            results.trials[index].samples += boot.phasesMs.map { Sample(workload: "boot", metric: $0.0, value: $0.1, unit: "ms") }
        }
        let html = HTMLReport.render(results.summarizedFromTrials())
        #expect(html.contains("<table id=\"full-os-table\">") && html.contains("dev-vda.device") && html.contains("systemd to multi-user.target"))
        let ratio = try #require(results.summarizedFromTrials().ratio(.osVM, over: .systemContainer, "startup", "ready"))
        #expect(abs(ratio.ratio - 100) < 1e-6)
        #expect(TextReport.render(results).contains("os-vm / vm, launch to READY"))
    }

    /// The ramps and the neighbours, from their records: tables, the three
    /// curves, KSM and the stop reasons; nothing without them.
    @Test func densityAndNeighbourSectionsRenderFromTheirRecords() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        #expect(!HTMLReport.render(run.results).contains("density-table"))
        
        var vm = Synthetic.ramp(.vm, pss: 250)
        vm.ksm = DensityRun.KSM(n: 8, pssPerInstanceOffMiB: 250, pssPerInstanceOnMiB: 180, memAvailableOffMiB: 20_000, memAvailableOnMiB: 20_500,
                                pagesShared: 1000, pagesSharing: 9000, generalProfitBytes: 30 << 20, fullScans: 2, seconds: 12)
        vm.startLatencies = [DensityRun.StartLatency(running: 0, ms: 5000), DensityRun.StartLatency(running: 1, ms: 5200)]
        run.density = [Synthetic.ramp(.container, pss: 5), vm]
        run.neighbours = [Synthetic.neighbour(unlimited: 0.6, limited: 0.98)]
        let html = HTMLReport.render(run.results)
        #expect(html.contains("<table id=\"density-table\">") && html.contains("<table id=\"neighbour-table\">"))
        #expect(html.contains("pages_sharing 9000") && html.contains("stopped because reached max_instances"))
        #expect(html.contains("PSS per instance against N") && html.contains("LightVM"))
        let text = TextReport.render(run.results)
        #expect(text.contains("density vm with KSM") && text.contains("neighbour container cpu.sieve"))
    }

    /// A drop read while MemAvailable still moved is marked, and nothing is
    /// extrapolated from it; settled, the same figures give the estimate.
    @Test func anUnsettledDropIsMarkedAndNotExtrapolated() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        var vm = Synthetic.ramp(.vm, pss: 250)
        for index in vm.steps.indices { vm.steps[index].memAvailableSettled = true }
        vm.baselineSettled = true
        #expect(vm.extrapolatedFit == Int(24_000 / (250 * 0.9)))
        run.density = [vm]
        #expect(HTMLReport.render(run.results).contains("would fill this host") && !HTMLReport.render(run.results).contains("still moving"))
        vm.steps[vm.steps.count - 1].memAvailableSettled = false
        #expect(vm.extrapolatedFit == nil)
        run.density = [vm]
        let html = HTMLReport.render(run.results)
        #expect(html.contains("(MemAvailable still moving)") && html.contains("no 3 s of calm") && !html.contains("would fill this host"))
        #expect(TextReport.render(run.results).contains("(MemAvailable still moving)"))
        vm.steps[vm.steps.count - 1].memAvailableSettled = true
        vm.baselineSettled = false
        #expect(vm.extrapolatedFit == nil)
        // Results written before settling was recorded: nothing marked.
        vm.baselineSettled = nil
        for index in vm.steps.indices { vm.steps[index].memAvailableSettled = nil }
        #expect(vm.extrapolatedFit != nil && !vm.steps.contains { vm.dropIsUnsettled($0) })
        // Sixteen containers' 0.33 MiB each (5 MiB in all) is the host's churn, not a size to extrapolate.
        var containers = Synthetic.ramp(.container, pss: 0.42, upTo: 16)
        for index in containers.steps.indices { containers.steps[index].memAvailableDropPerInstanceMiB = 0.33 }
        #expect(containers.extrapolatedFit == nil)
        for index in containers.steps.indices { containers.steps[index].memAvailableDropPerInstanceMiB = 2 }
        #expect(containers.extrapolatedFit == Int(24_000 / 2.0))
    }
}
