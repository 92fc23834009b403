import Foundation
import LabAnalysis
import LabModel

/// The table of a scenario run once per image (`images:`): formats the
/// analysed `ImageComparison`, computes nothing. Each image's own report is
/// linked (relative: `IMAGE/report.html`).
public enum ImageComparisonReport {
    static func number(_ value: Double?, _ format: String = "%.4g") -> String { value.map { String(format: format, $0) } ?? "—" }

    static func interval(_ interval: Interval?) -> String {
        interval.map { String(format: "[%.4g–%.4g] %.1f %%", $0.lower, $0.upper, $0.level * 100) } ?? "—"
    }

    public static func csv(_ comparison: ImageComparison) -> String {
        var lines = ["image,digest,backend,trials,ready_ms_median,ready_ms_lower,ready_ms_upper,ready_level,disk_image_mib,disk_instance_kib"]
        for row in comparison.rows {
            lines.append([row.image, row.digest, row.backend.rawValue, String(row.trials), number(row.readyMs),
                          number(row.readyInterval?.lower), number(row.readyInterval?.upper), number(row.readyInterval?.level),
                          number(row.diskImageMiB), number(row.diskInstanceKiB)].map { $0 == "—" ? "" : $0 }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func text(_ comparison: ImageComparison) -> String {
        var out = "Images compared (launch to READY, disk paid once and per instance; \(comparison.accelerators.isEmpty ? "no guest" : "guests under " + comparison.accelerators.joined(separator: ", ").uppercased())):\n"
        for row in comparison.rows {
            out += "  \(row.image) \(row.backend.rawValue): READY \(number(row.readyMs)) ms \(interval(row.readyInterval)), image \(number(row.diskImageMiB)) MiB, per instance \(number(row.diskInstanceKiB)) KiB (n = \(row.trials))\n"
        }
        for ratio in comparison.diskRatios {
            out += "  [\(ratio.verdict)] \(ratio.image): per instance, VM/container disk \(number(ratio.ratio, "%.3g"))× \(interval(ratio.interval))\n"
        }
        return out
    }

    public static func html(_ comparison: ImageComparison, scenario: String, description: String) -> String {
        let e = SVG.escape
        var rows = ""
        for row in comparison.rows {
            rows += "<tr><td><a href=\"\(e(row.image))/report.html\">\(e(row.image))</a></td><td><code>\(e(String(row.digest.dropFirst(7).prefix(12))))</code></td>"
                + "<td>\(e(row.backend.rawValue))</td><td>\(row.trials)</td><td>\(number(row.readyMs))</td><td>\(e(interval(row.readyInterval)))</td>"
                + "<td>\(number(row.diskImageMiB))</td><td>\(number(row.diskInstanceKiB))</td></tr>\n"
        }
        var verdicts = ""
        for ratio in comparison.diskRatios {
            verdicts += "<tr><td>\(e(ratio.image))</td><td>\(number(ratio.ratio, "%.3g"))×</td><td>\(e(interval(ratio.interval)))</td><td>\(e(ratio.verdict))</td></tr>\n"
        }
        let accelerators = comparison.accelerators.isEmpty ? "no guest ran" : "every guest ran under " + comparison.accelerators.joined(separator: ", ").uppercased()
            + (comparison.accelerators == ["tcg"] ? " (software emulation, not KVM)" : "")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>isolab: \(e(scenario)), images compared</title>
            <style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}
            td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f4f6}code{font-size:.9em}</style></head>
            <body><h1>\(e(scenario)): images compared</h1><p>\(e(description))</p>
            <p>Each image ran the whole scenario; its own report (every trial, every verdict) is linked from its name. Start-up is launch to READY,
            the median of the counted trials with its exact distribution-free interval. Disk is allocated blocks, by one rule for every backend:
            paid once, what every instance of the image shares (the container's layers or tree; the guest's kernel, initramfs and disk);
            per instance, what one instance adds (the container's upper directory and run directory; the guest's qcow2 overlay and its directory).
            \(e(accelerators)).</p>
            <table id="images"><tr><th>image</th><th>digest</th><th>backend</th><th>trials</th><th>READY ms (median)</th><th>95 % interval</th><th>disk, paid once (MiB)</th><th>disk, per instance (KiB)</th></tr>
            \(rows)</table>
            <h2>\(e(ImageComparison.claim))</h2>
            <table id="disk-verdicts"><tr><th>image</th><th>VM / container, per instance</th><th>exact interval</th><th>verdict</th></tr>
            \(verdicts)</table>
            </body></html>

            """
    }
}
