import CSV
import Foundation
import LabCore
import LabModel
import LabReport
import LabRunner
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("Integration (root, libvirt, TCG here): isolab run, report, compare", .needsRoot, .needsLibvirt)
struct RunIntegrationTests {
    @Test func quickScenarioEndToEnd() throws {
        let home = try TemporaryHome()
        let out = home.path + "/quick"
        // Four trials a side: the fewest for which an exact 95 % interval exists,
        // so that the verdicts below can flip.
        let run = try HostCommand.run(try isolabExecutable(), ["run", packageRoot + "/scenarios/quick.yaml", "--repetitions", "4", "--out", out], timeout: 900)
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        #expect(run.stdout.contains("[holds] Containers use the host's kernel"))

        let results = try RunResults.load(file: out + "/results.json")
        #expect(results.complete && results.schemaVersion == RunResults.currentSchemaVersion)
        #expect(results.trials.count == 12 && results.trials.allSatisfy { $0.error == nil })
        #expect(results.trials.filter { $0.backend == .vm }.allSatisfy { $0.accelerator != nil })
        #expect(results.environment.hostFacts.cgroupMode != nil && !results.environment.scenarioText.isEmpty)
        #expect(results.environment.scenarioDigest.hasPrefix("sha256:") && results.environment.imageDigest.hasPrefix("sha256:"))
        #expect(results.isolation != nil && results.cgroups != nil)

        // samples.csv: one row per trial and metric, agreeing with the JSON.
        let samples = try CSVReader(string: try FileSystem.readText(out + "/samples.csv"), hasHeaderRow: true)
        var sampleRows = 0
        while samples.next() != nil { sampleRows += 1 }
        #expect(sampleRows == results.trials.map(\.samples.count).reduce(0, +))
        // summary.csv: one row per backend and metric.
        let summary = try CSVReader(string: try FileSystem.readText(out + "/summary.csv"), hasHeaderRow: true)
        var summaryRows: [[String]] = []
        while let row = summary.next() { summaryRows.append(row) }
        #expect(summaryRows.count == results.summary.metrics.count)
        let header = try #require(summary.headerRow)
        let medianColumn = try #require(header.firstIndex(of: "median"))
        for (row, metric) in zip(summaryRows, results.summary.metrics) {
            #expect(abs((Double(row[medianColumn]) ?? -1) - metric.summary.median) <= abs(metric.summary.median) * 1e-5)
        }

        let html = try FileSystem.readText(out + "/report.html")
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)
        #expect(html.contains("id=\"claim-startup\"") && html.contains("id=\"claim-cgroup.freeze\""))
        #expect(html.contains("<table id=\"claims\">"))
        let outside = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!outside.contains("http:") && !outside.contains("https:") && !outside.contains("src="))

        // Re-rendering from the JSON alone gives the same files.
        let again = home.path + "/again"
        let report = try HostCommand.run(try isolabExecutable(), ["report", out + "/results.json", "--out", again, "--format", "html,csv,text"])
        #expect(report.status == 0)
        #expect(try FileSystem.readText(again + "/report.html") == html)
        #expect(try FileSystem.readText(again + "/samples.csv") == FileSystem.readText(out + "/samples.csv"))
        #expect(report.stdout.contains("startup.ready"))

        // The verdicts come from the trials' samples and the probes' raw
        // observations: change them, and the start-up, memory and PID
        // verdicts change with them.
        let flipped = home.path + "/flipped"
        try FileSystem.createDirectory(flipped, mode: 0o755, parents: 0o755)
        try flipSamples(out + "/results.json", to: flipped + "/results.json")
        let before = try HostCommand.run(try isolabExecutable(), ["report", out + "/results.json", "--format", "text", "--out", again])
        let after = try HostCommand.run(try isolabExecutable(), ["report", flipped + "/results.json", "--format", "text"])
        #expect(after.status == 0, "\(after.stderr)")
        for statement in ["A new container starts in seconds", "Containers are lighter than VMs in memory", "PID namespaces isolate"] {
            let was = before.stdout.split(separator: "\n").first { $0.contains(statement) } ?? ""
            let now = after.stdout.split(separator: "\n").first { $0.contains(statement) } ?? ""
            #expect(!was.hasPrefix("[does not hold") && now.hasPrefix("[does not hold"), "\(statement): \(was) -> \(now)")
        }
        // Unpinned (quick.yaml sets no cpus): the hardware row decides nothing either way.
        let hardware = after.stdout.split(separator: "\n").first { $0.contains("Applications in containers use the hardware directly") } ?? ""
        #expect(hardware.hasPrefix("[inconclusive: unequal budgets"), "\(hardware)")

        let compare = try HostCommand.run(try isolabExecutable(), ["compare", out + "/results.json", out + "/results.json"])
        #expect(compare.status == 0 && compare.stdout.contains("within noise") && !compare.stdout.contains("beyond noise"))
    }

    /// A copy of a results.json in which the container's start-up is slower
    /// than the VM's, its memory heavier, and its CPU rate lower, in the
    /// trials' samples alone (the stored summary is left as it was), and the
    /// PID probe saw the host's processes inside.
    func flipSamples(_ source: String, to target: String) throws {
        var json = try #require(try JSONSerialization.jsonObject(with: Data(FileSystem.readText(source).utf8)) as? [String: Any])
        var trials = try #require(json["trials"] as? [[String: Any]])
        for index in trials.indices where trials[index]["backend"] as? String == "container" {
            var samples = try #require(trials[index]["samples"] as? [[String: Any]])
            for s in samples.indices {
                let factor: Double? = switch (samples[s]["workload"] as? String, samples[s]["metric"] as? String) {
                case ("startup", "ready"): 100_000
                case ("resources", "pss"): 1000
                case ("cpu", _): 0.001
                default: nil
                }
                if let factor, let value = samples[s]["value"] as? Double { samples[s]["value"] = value * factor }
            }
            trials[index]["samples"] = samples
        }
        json["trials"] = trials
        // The PID probe's raw answer inside: the host's PID 1 and all its processes.
        var isolation = try #require(json["isolation"] as? [String: Any])
        var probes = try #require(isolation["probes"] as? [[String: Any]])
        let pid = try #require(probes.firstIndex { $0["rule"] as? String == "pid.tree" })
        var observed = try #require(probes[pid]["observed"] as? [String: Any])
        observed["inside"] = observed["host"]
        probes[pid]["observed"] = observed
        isolation["probes"] = probes
        json["isolation"] = isolation
        try FileSystem.writeAtomically(target, bytes: Array(try JSONSerialization.data(withJSONObject: json)))
    }

    @Test func badScenarioIsOneLineExitTwoAndWritesNothing() throws {
        let home = try TemporaryHome()
        let file = home.path + "/bad.yaml"
        try FileSystem.writeAtomically(file, text: "name: bad\nbackends: [bare, docker]\n")
        let output = try HostCommand.run("/bin/sh", ["-c", "cd \(home.path) && \(try isolabExecutable()) run \(file)"])
        #expect(output.status == 2)
        #expect(output.stderr == "isolab: \(file):2: backends[1]: unknown backend 'docker'; accepted: bare, container, vm, system-container, os-vm, runc, crun, podman, nspawn, unshare, qemu\n")
        #expect(!FileSystem.exists(home.path + "/reports"))
        let zero = try HostCommand.run(try isolabExecutable(), ["run", packageRoot + "/scenarios/quick.yaml", "--repetitions", "0", "--out", home.path + "/x"])
        #expect(zero.status == 2 && zero.stderr.contains("--repetitions 0 must be at least 1"))
        #expect(!FileSystem.exists(home.path + "/x"))
        let wrongSchema = home.path + "/old.json"
        try FileSystem.writeAtomically(wrongSchema, text: "{\"schema_version\": 0}")
        let report = try HostCommand.run(try isolabExecutable(), ["report", wrongSchema])
        #expect(report.status == 2 && report.stderr.contains("schema_version 0; this lab reads \(RunResults.currentSchemaVersion)"))
        // Where the reports go is checked before any trial: a file in the way, or no backend at all.
        let quick = packageRoot + "/scenarios/quick.yaml"
        let blocked = home.path + "/a-file"
        try FileSystem.writeAtomically(blocked, text: "x\n")
        for out in [blocked, blocked + "/sub"] {
            let run = try HostCommand.run(try isolabExecutable(), ["run", quick, "--out", out])
            #expect(run.status == 2 && run.stderr == "isolab: --out \(out): \(blocked) is a file, not a directory; name a directory (it is created if missing)\n", "\(run.stderr)")
            #expect(!run.stdout.contains("trial"))
        }
        let dangling = home.path + "/dangling"
        #expect(symlink(home.path + "/nowhere", dangling) == 0)
        let link = try HostCommand.run(try isolabExecutable(), ["run", quick, "--out", dangling + "/sub"])
        #expect(link.status == 2 && link.stderr.contains("\(dangling) is a link to nothing"), "\(link.stderr)")
        let empty = try HostCommand.run(try isolabExecutable(), ["run", quick, "--out", ""])
        #expect(empty.status == 2 && empty.stderr == "isolab: --out is empty; name a directory (it is created if missing)\n", "\(empty.stderr)")
        let none = try HostCommand.run(try isolabExecutable(), ["run", quick, "--backends", ",", "--out", home.path + "/y"])
        #expect(none.status == 2 && none.stderr.contains("--backends names no backend"), "\(none.stderr)")
        #expect(!FileSystem.exists(home.path + "/y"))
        let reportOut = try HostCommand.run(try isolabExecutable(), ["report", packageRoot + "/reports/sample/results.json", "--out", blocked])
        #expect(reportOut.status == 2 && reportOut.stderr.contains("is a file, not a directory"), "\(reportOut.stderr)")
    }

    /// Two runs at once in one ISOLAB_HOME: the second fails at once with
    /// --no-wait, naming the first; without it, it waits and runs after.
    @Test func aSecondRunWaitsForTheFirstOrFailsNamingIt() throws {
        let home = try TemporaryHome()
        let scenario = home.path + "/lock.yaml"
        try FileSystem.writeAtomically(scenario, text: """
            name: lock
            backends: [bare]
            workloads: [{name: idle, params: {seconds: 5}}]
            repetitions: 1
            warmup: 0

            """)
        func start(_ extra: [String], log: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try isolabExecutable())
            process.arguments = ["run", scenario] + extra
            process.environment = ProcessInfo.processInfo.environment.merging(["ISOLAB_HOME": home.path]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: log)
            try process.run()
            return process
        }
        let first = try start(["--out", home.path + "/first"], log: home.path + "/first.log")
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() } }
        let lockFile = home.path + "/run.lock"
        let deadline = MonotonicClock.now() + 60_000_000_000
        while FileLock.readHolder(lockFile)?.pid != first.processIdentifier && MonotonicClock.now() < deadline && first.isRunning { usleep(20_000) }
        #expect(FileLock.readHolder(lockFile)?.pid == first.processIdentifier, "the first run never took the lock")

        let refused = try HostCommand.run(try isolabExecutable(), ["run", scenario, "--no-wait", "--out", home.path + "/refused"],
                                          timeout: 30, environment: ["ISOLAB_HOME": home.path])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("isolab: ") && refused.stderr.contains("pid \(first.processIdentifier) (isolab run \(scenario))"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)
        #expect(!FileSystem.exists(home.path + "/refused"))

        let second = try start(["--out", home.path + "/second"], log: home.path + "/second.log")
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL); second.waitUntilExit() } }
        while !(FileSystem.readTextIfPresent(home.path + "/second.log") ?? "").contains("waiting for") && second.isRunning && first.isRunning { usleep(20_000) }
        // The first holds the lock for its 5 s trial at least: the second must be waiting.
        #expect(try FileSystem.readText(home.path + "/second.log").contains("waiting for pid \(first.processIdentifier)"))
        #expect(!FileSystem.exists(home.path + "/second/results.json"), "the second run did not wait")
        first.waitUntilExit()
        second.waitUntilExit()
        #expect(first.terminationStatus == 0 && second.terminationStatus == 0, "\(FileSystem.readTextIfPresent(home.path + "/second.log") ?? "")")
        let a = try RunResults.load(file: home.path + "/first/results.json")
        let b = try RunResults.load(file: home.path + "/second/results.json")
        #expect(a.complete && b.complete)
        #expect(FileLock.readHolder(lockFile) == nil)
    }
}
