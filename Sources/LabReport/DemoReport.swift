import Foundation
import LabAnalysis
import LabModel

/// A demo as a student reads it: live on the terminal (numbered steps, each
/// with what we do, the command, what to expect, what was seen inside and on
/// the host), and as a one-page HTML handout with the same steps and a chart
/// where one helps. Rendered from the `DemoRecord` alone.
public enum DemoReport {
    /// The heading printed before the first step.
    public static func heading(name: String, title: String, claim: String) -> String {
        "== isolab demo \(name): \(title)\n   The notes say: \(claim)\n\n"
    }

    /// One step (or the control), as soon as it is seen.
    public static func step(_ step: DemoStep, isControl: Bool) -> String {
        let mark = step.passed.map { $0 ? "ok" : "NOT AS EXPECTED" } ?? "shown"
        var text = isControl ? "Control. \(step.what)\n" : "\(step.number). \(step.what)\n"
        text += "   $ \(step.command)\n"
        text += "   expect:  \(step.expect)\n"
        text += "   inside:  \(step.inside)\n"
        if !step.host.isEmpty { text += "   host:    \(step.host)\n" }
        text += "   -> \(isControl ? (step.passed == true ? "the control saw the host's" : "the control did NOT see the host's") : mark)\n\n"
        return text
    }

    /// The verdict and its evidence, after the steps.
    public static func verdict(_ record: DemoRecord) -> String {
        var text = "\(record.verdict.word): \(record.verdict.reason)"
        if let accelerator = record.accelerator { text += " (the VM ran under \(accelerator)\(accelerator == "TCG" ? ": emulated, not KVM" : ""))" }
        text += String(format: " [%.2f s]\n", record.seconds)
        if !record.evidence.isEmpty {
            text += "   evidence: " + record.evidence.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n"
        }
        return text
    }

    /// The whole demo as text (heading, steps, control, verdict).
    public static func text(_ record: DemoRecord) -> String {
        var text = heading(name: record.name, title: record.title, claim: record.claim)
        for step in record.steps { text += self.step(step, isControl: false) }
        if let control = record.control { text += step(control, isControl: true) }
        return text + verdict(record)
    }

    /// `demo all`: one line per demo.
    public static func summary(_ records: [DemoRecord]) -> String {
        let width = records.map(\.name.count).max() ?? 4
        var text = ""
        for record in records {
            text += "\(record.verdict.word)  \(record.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(record.title)"
                + String(format: " (%.2f s)", record.seconds) + (record.accelerator.map { ", VM under \($0)" } ?? "") + "\n"
        }
        let failed = records.filter { !$0.verdict.pass }.count
        return text + "\(records.count - failed) of \(records.count) passed\n"
    }

    /// A one-page handout, self-contained (no script, nothing fetched).
    public static func html(_ records: [DemoRecord]) -> String {
        func e(_ text: String) -> String { SVG.escape(text) }
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>isolab demo: \(e(records.map(\.name).joined(separator: ", ")))</title>
            <style>
            body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#111;padding:0 1em}
            table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px;width:100%}th,td{border:1px solid #d1d5db;padding:4px 8px;text-align:left;vertical-align:top}
            th{background:#f3f4f6}code{background:#f3f4f6;padding:1px 3px}.pass{color:#15803d;font-weight:bold}.fail{color:#b91c1c;font-weight:bold}
            .shown{color:#6b7280}section{margin-bottom:2.5em}.claim{font-style:italic}
            </style></head><body>
            <h1>isolab demos</h1>

            """
        if records.count > 1 {
            html += "<table id=\"demos\"><tr><th>Demo</th><th>What it shows</th><th>Verdict</th></tr>\n"
            for record in records {
                html += "<tr><td><a href=\"#demo-\(e(record.name))\">\(e(record.name))</a></td><td>\(e(record.title))</td><td class=\"\(record.verdict.pass ? "pass" : "fail")\">\(record.verdict.word)</td></tr>\n"
            }
            html += "</table>\n"
        }
        for record in records {
            html += "<section id=\"demo-\(e(record.name))\">\n<h2>\(e(record.name)): \(e(record.title))</h2>\n"
            html += "<p class=\"claim\">The notes say: \(e(record.claim))</p>\n"
            html += "<table class=\"steps\"><tr><th>#</th><th>What we do</th><th>What you should expect</th><th>Inside</th><th>On the host</th><th></th></tr>\n"
            let rows = record.steps.map { ($0, false) } + (record.control.map { [($0, true)] } ?? [])
            for (step, isControl) in rows {
                let mark = isControl ? (step.passed == true ? "control saw the host's" : "control did not see the host's")
                    : (step.passed.map { $0 ? "ok" : "not as expected" } ?? "shown")
                let css = step.passed.map { $0 ? "pass" : "fail" } ?? "shown"
                html += "<tr><td>\(isControl ? "control" : String(step.number))</td><td>\(e(step.what))<br><code>\(e(step.command))</code></td>"
                    + "<td>\(e(step.expect))</td><td>\(e(step.inside))</td><td>\(e(step.host))</td><td class=\"\(css)\">\(e(mark))</td></tr>\n"
            }
            html += "</table>\n"
            if let chart = record.chart {
                let palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"]
                html += "<figure>\n" + SVG.bars(title: "\(chart.title) (\(chart.unit))",
                                                chart.bars.enumerated().map { ($0.element.label, $0.element.value, palette[$0.offset % palette.count]) },
                                                unit: chart.unit) + "</figure>\n"
            }
            html += "<p class=\"\(record.verdict.pass ? "pass" : "fail")\">\(record.verdict.word): \(e(record.verdict.reason))"
                + (record.accelerator.map { " (the VM ran under \(e($0))\($0 == "TCG" ? ": emulated, not KVM" : ""))" } ?? "") + "</p>\n"
            html += "<p class=\"shown\">Evidence: " + e(record.evidence.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))
                + String(format: ". %.1f s on ", record.seconds) + e(record.host) + (record.without.map { ". Run without \(e($0)) (a test of the demo itself)." } ?? ".") + "</p>\n"
            html += "</section>\n"
        }
        return html + "</body></html>\n"
    }
}
