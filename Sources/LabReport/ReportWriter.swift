import Foundation
import LabAnalysis
import LabModel

/// Writes a run's files into its report directory.
public enum ReportWriter {
    public enum Format: String, CaseIterable, Sendable {
        case json, csv, html, text
    }

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Whether reports can be written to `directory` (created if missing),
    /// checked before the work that produces them: an empty name, an
    /// existing file or a dangling link in its place, or an ancestor that
    /// cannot be written, is bad input (exit 2). Nothing is created.
    /// `option` names where the path came from (`--out`, or the default).
    public static func checkDestination(_ directory: String, option: String = "--out") throws {
        guard !directory.isEmpty else { throw LabError(.invalidInput, "\(option) is empty; name a directory (it is created if missing)") }
        let files = FileManager.default
        var path = directory
        while true {
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: path, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else {
                    throw LabError(.invalidInput, "\(option) \(directory): \(path) is a file, not a directory; name a directory (it is created if missing)")
                }
                guard files.isWritableFile(atPath: path) else {
                    throw LabError(.invalidInput, "\(option) \(directory): \(path) cannot be written; name a directory you can write to")
                }
                return
            }
            // A link that leads nowhere would block the mkdir as a file does.
            if (try? files.destinationOfSymbolicLink(atPath: path)) != nil {
                throw LabError(.invalidInput, "\(option) \(directory): \(path) is a link to nothing; name a directory (it is created if missing)")
            }
            // The nearest ancestor that exists decides.
            guard let slash = path.lastIndex(of: "/") else { path = "."; continue }
            path = slash == path.startIndex ? "/" : String(path[..<slash])
        }
    }

    /// Writes the chosen formats; returns the paths written.
    @discardableResult
    public static func write(_ results: RunResults, to directory: String, formats: [Format]) throws -> [String] {
        let results = results.summarizedFromTrials()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LabError(.failed, "create \(directory): \(error.localizedDescription)")
        }
        var written: [String] = []
        // Each file is written to a temporary name and renamed: a reader
        // never sees half a report, and an interrupted write leaves none.
        func put(_ name: String, _ text: String) throws {
            let path = directory + "/" + name
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw LabError(.failed, "write \(path): \(error.localizedDescription)")
            }
            written.append(path)
        }
        for format in formats {
            switch format {
            case .json: try put("results.json", String(decoding: try encoder().encode(results), as: UTF8.self) + "\n")
            case .csv:
                try put("samples.csv", try CSVReport.samples(results))
                try put("summary.csv", try CSVReport.summary(results))
            case .html: try put("report.html", HTMLReport.render(results))
            case .text: try put("summary.txt", TextReport.render(results))
            }
        }
        return written
    }
}

extension ReportWriter {
    /// `images.json`, `images.csv` and `images.html` beside the per-image
    /// report directories of a scenario with `images:`; each written whole.
    public static func writeImageComparison(_ comparison: ImageComparison, scenario: Scenario, to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let files = [
            ("images.json", String(decoding: try encoder.encode(comparison), as: UTF8.self) + "\n"),
            ("images.csv", ImageComparisonReport.csv(comparison)),
            ("images.html", ImageComparisonReport.html(comparison, scenario: scenario.name, description: scenario.description)),
        ]
        for (name, text) in files {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name), options: .atomic)
            } catch {
                throw LabError(.failed, "write \(directory)/\(name): \(error.localizedDescription)")
            }
        }
    }
}
