import ArgumentParser
import LabCore
import LabModel
import LabReport
import LabRunner

/// `isolab report results.json`: re-render from the JSON alone.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Re-render reports from a results.json alone (into its directory, or --out).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A results.json written by isolab run.")
    var results: String

    @Option(help: "Comma-separated formats: html, csv, text (text prints to stdout).")
    var format = "html,csv,text"

    @Option(help: "Directory for the files (default: the results file's directory).")
    var out: String?

    func run() throws {
        var formats: [ReportWriter.Format] = []
        for name in format.split(separator: ",") {
            guard let value = ReportWriter.Format(rawValue: String(name).trimmingWhitespace()), value != .json else {
                throw LabError(.invalidInput, "--format: unknown format '\(name)'; accepted: html, csv, text")
            }
            formats.append(value)
        }
        let stored = try RunResults.load(file: results)
        let directory = out ?? String(results[..<(results.lastIndex(of: "/") ?? results.startIndex)]).ifEmpty(".")
        try ReportWriter.checkDestination(directory, option: out == nil ? "the results' directory" : "--out")
        let loaded = stored.summarizedFromTrials()
        if !stored.hasSameSummary(as: loaded) {
            FileOutput.standardError("isolab: the summary stored in \(results) disagrees with its trials' samples; every figure here is computed from the samples\n")
        }
        try ReportWriter.write(loaded, to: directory, formats: formats.filter { $0 != .text })
        if formats.contains(.text) { FileOutput.standardOutput(TextReport.render(loaded)) }
    }
}

/// `isolab compare A B`.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Per-metric changes between two results.json, and whether each is beyond noise.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The earlier results.json.") var before: String
    @Argument(help: "The later results.json.") var after: String

    func run() throws {
        FileOutput.standardOutput(Compare.render(try RunResults.load(file: before), try RunResults.load(file: after)))
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
