import ArgumentParser
import Foundation
import LabCore
import LabAnalysis
import LabModel
import LabReport
import LabRunner

/// `isolab run SCENARIO`: the lab's main job.
struct Run: AsyncParsableCommand, WritesLabState {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a scenario on every backend it names and write results.json, CSV and HTML reports.",
        discussion: """
            Trials run in rounds, each round every backend once in a seeded shuffled order; warm-up \
            rounds are recorded but not counted. A failed trial is recorded and the run goes on; the \
            exit status is 1 if any failed. SIGINT tears the running instance down and still writes \
            the results gathered so far, marked incomplete (exit 130). Reports go to \
            reports/<scenario>-<UTC time>/ unless --out is given. One run at a time per \
            $ISOLAB_HOME: a second waits for the first (or, with --no-wait, fails naming it).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The scenario file (YAML, see docs/scenarios.md).")
    var scenario: String

    @Option(help: "Directory for the results (default: reports/<scenario>-<UTC time>).")
    var out: String?

    @Option(parsing: .unconditional, help: "Repetitions per backend, instead of the scenario's.")
    var repetitions: Int?

    @Option(help: "Comma-separated backends, instead of the scenario's: bare, container, vm, or a peer (runc, crun, podman, nspawn, unshare, qemu; docs/peers.md).")
    var backends: String?

    @Option(parsing: .unconditional, help: "Seed of the trial order, instead of the scenario's.")
    var seed: UInt64?

    @Option(name: .customLong("libvirt-uri"), help: "libvirt connection URI.")
    var libvirtURI = "qemu:///system"

    @Option(name: .customLong("max-instances"), parsing: .unconditional, help: "Lower the scenario's density ramp to at most N instances (docs/density.md).")
    var maxInstances: Int?

    @Option(parsing: .unconditional, help: "Lower the density ramp's time budget per backend to SECONDS.")
    var budget: Double?

    @Flag(name: .customLong("no-wait"), help: "If another run holds $ISOLAB_HOME/run.lock, fail (exit 1) naming it, instead of waiting.")
    var noWait = false

    /// The options' own checks, before anything is read or run (the
    /// scenario's are its decoder's). A ValidationError: `isolab` prints it
    /// as one line and exits 2, like any bad input.
    func validate() throws {
        do { try checkOptions() } catch let error as LabError { throw ValidationError(error.message) }
    }

    func checkOptions() throws {
        if let repetitions, repetitions < 1 {
            throw LabError(.invalidInput, "--repetitions \(repetitions) must be at least 1")
        }
        if let maxInstances, maxInstances < 1 {
            throw LabError(.invalidInput, "--max-instances \(maxInstances) must be at least 1")
        }
        if let budget, !(budget > 0 && budget.isFinite) {
            throw LabError(.invalidInput, "--budget \(budget) must be a positive number of seconds")
        }
        _ = try backendKinds()
    }

    /// `--backends` as kinds; nil when not given.
    func backendKinds() throws -> [Scenario.BackendKind]? {
        guard let backends else { return nil }
        let kinds = try backends.split(separator: ",").map { name in
            guard let kind = Scenario.BackendKind(rawValue: String(name).trimmingWhitespace()) else {
                throw LabError(.invalidInput, "--backends: unknown backend '\(name)'; accepted: \(Scenario.BackendKind.acceptedList)")
            }
            return kind
        }
        guard !kinds.isEmpty else {
            throw LabError(.invalidInput, "--backends names no backend; give a comma-separated list of: \(Scenario.BackendKind.acceptedList)")
        }
        return kinds
    }

    func run() async throws {
        let logger = global.bootstrapLogging()
        let (parsed, text) = try Scenario.load(file: scenario)
        var options = Runner.Options()
        options.maxInstances = maxInstances
        options.budgetSeconds = budget
        options.repetitions = repetitions
        options.seed = seed
        options.libvirtURI = libvirtURI
        options.backends = try backendKinds()
        // Where the reports go is checked before the trials, not after them.
        try ReportWriter.checkDestination(out ?? "reports", option: out == nil ? "the reports directory" : "--out")
        CleanupRegistry.shared.installSignalHandlers(onSignal: { _ in })
        let terminal = isatty(2) == 1
        // One run at a time per $ISOLAB_HOME: two would share the two cores
        // and each measure the other.
        let paths = LabPaths.fromEnvironment()
        let lock = try FileLock.acquire(paths.stateDirectory + "/run.lock", purpose: "isolab run \(scenario)", wait: !noWait,
                                        onWait: { holder in
                                            FileOutput.standardError("isolab: waiting for \(holder?.description ?? "another isolab run") to finish (\(paths.stateDirectory)/run.lock)\n")
                                        },
                                        shouldStop: { CleanupRegistry.shared.interrupted != nil })
        guard let lock else { throw ExitCode(128 + (CleanupRegistry.shared.interrupted ?? 2)) }
        defer { lock.release() }
        let progress: @Sendable (String, Bool) -> Void = { message, transient in
            if terminal && transient {
                FileOutput.standardError("\r\u{1B}[K" + message)
            } else {
                FileOutput.standardError((terminal ? "\r\u{1B}[K" : "") + "isolab: " + message + "\n")
            }
        }
        let stamp = ISO8601DateFormatter.utcStamp()
        let directory = out ?? "reports/\(parsed.name)-\(stamp)"
        // images: the whole scenario once per image, each a report of its own, then one table of them.
        var runs: [(image: String, results: RunResults)] = []
        for image in parsed.images.isEmpty ? [nil] : parsed.images.map(Optional.some) {
            if CleanupRegistry.shared.interrupted != nil { break }
            var each = parsed
            if let image {
                each.image = .named(image)
                progress("image \(image): the scenario's trials on \(each.backends.map(\.rawValue).joined(separator: ", "))", false)
            }
            let results = try await Runner(scenario: each, file: scenario, text: text, options: options, logger: logger).run(progress: progress)
            if terminal { FileOutput.standardError("\r\u{1B}[K") }
            let target = image.map { directory + "/" + $0 } ?? directory
            try ReportWriter.write(results, to: target, formats: [.json, .csv, .html])
            FileOutput.standardOutput(TextReport.render(results))
            FileOutput.standardOutput("reports: \(target)/report.html, results.json, samples.csv, summary.csv\n")
            runs.append((image ?? parsed.name, results))
        }
        if !parsed.images.isEmpty {
            let comparison = ImageComparison(runs)
            try ReportWriter.writeImageComparison(comparison, scenario: parsed, to: directory)
            FileOutput.standardOutput(ImageComparisonReport.text(comparison))
            FileOutput.standardOutput("images compared: \(directory)/images.html, images.json, images.csv\n")
        }
        if let signal = CleanupRegistry.shared.interrupted { throw ExitCode(128 + signal) }
        if runs.contains(where: { $0.results.trials.contains(where: { $0.error != nil }) || !$0.results.checkErrors.isEmpty }) { throw ExitCode(1) }
    }
}

extension ISO8601DateFormatter {
    /// `20261128T231506Z`: sortable, no colons (safe in file names).
    static func utcStamp(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }
}
