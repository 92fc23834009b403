import Foundation
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
