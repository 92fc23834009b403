import Foundation
import LabAnalysis
import LabModel
import LabStats

/// Inline SVG charts: no script, no font, nothing fetched.
enum SVG {
    static let colors: [BackendKind: String] = [.bare: "#6b7280", .container: "#2563eb", .vm: "#dc2626", .runc: "#0891b2", .crun: "#0e7490",
                                                .podman: "#7c3aed", .nspawn: "#16a34a", .unshare: "#a16207", .qemu: "#f97316",
                                                .systemContainer: "#1e3a8a", .osVM: "#7f1d1d"]
    static let palette = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777"]

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func text(_ x: Double, _ y: Double, _ content: String, anchor: String = "start", size: Int = 12, weight: String = "normal") -> String {
        String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%@\" font-weight=\"%@\">%@</text>", x, y, size, anchor, weight, escape(content))
    }

    static func svg(width: Int, height: Int, title: String, _ body: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(title))\" font-family=\"sans-serif\">\n\(body)</svg>\n"
    }

    /// Start-up times of every counted trial per backend, on a log axis, with the median marked.
    static func startup(_ results: RunResults) -> String {
        let rows = results.backends.map { ($0, results.values($0, .ready)) }.filter { !$0.1.isEmpty }
        let all = rows.flatMap(\.1).filter { $0 > 0 }
        let width = 760, left = 110.0, right = 730.0
        let height = 60 + 44 * max(rows.count, 1)
        guard let low = all.min(), let high = all.max() else {
            return svg(width: width, height: 60, title: "startup", text(20, 30, "no start-up samples"))
        }
        let lo = floor(log10(low)), hi = max(ceil(log10(high)), lo + 1)
        func x(_ v: Double) -> Double { left + (log10(v) - lo) / (hi - lo) * (right - left) }
        var body = text(left, 18, "Launch to READY (ms, log scale): each dot a trial, the bar the median", weight: "bold")
        var decade = lo
        while decade <= hi {
            let value = pow(10, decade)
            body += String(format: "<line x1=\"%.1f\" y1=\"28\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e7eb\"/>", x(value), x(value), height - 22)
            body += text(x(value), Double(height - 8), value >= 1000 ? "\(Int(value / 1000)) s" : (value >= 1 ? "\(Int(value)) ms" : "\(value) ms"), anchor: "middle", size: 11)
            decade += 1
        }
        for (index, (backend, values)) in rows.enumerated() {
            let y = 50.0 + Double(index) * 44
            body += text(10, y + 4, backend.rawValue, size: 13, weight: "bold")
            for (i, value) in values.enumerated() where value > 0 {
                let jitter = Double((i * 7919) % 13) - 6
                body += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\" fill-opacity=\"0.6\"/>", x(value), y + jitter, colors[backend] ?? "#000")
            }
            let median = Statistics.median(values)
            body += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#111\" stroke-width=\"2\"/>", x(median), y - 12, x(median), y + 12)
            body += text(min(x(median) + 6, right - 60), y - 10, Format.duration(median), size: 11)
        }
        return svg(width: width, height: height, title: "Start-up distributions per backend", body)
    }

    /// Where the time goes: median duration of each phase, per backend, as a 100 % bar.
    static func phases(_ results: RunResults) -> String {
        var rows: [(BackendKind, [(String, Double)])] = []
        for backend in results.backends {
            let trials = results.trials.filter { $0.backend == backend && $0.isCounted }
            guard let names = trials.first?.timeline.map(\.name), names.count > 1 else { continue }
            var steps: [(String, Double)] = []
            for index in 1..<names.count {
                let values = trials.compactMap { trial -> Double? in
                    guard let a = trial.timeline.first(where: { $0.name == names[index - 1] }),
                          let b = trial.timeline.first(where: { $0.name == names[index] }), b.ns >= a.ns else { return nil }
                    return Double(b.ns - a.ns) / 1e6
                }
                if !values.isEmpty { steps.append((names[index], Statistics.median(values))) }
            }
            rows.append((backend, steps))
        }
        return stacked(title: "Where the time goes: median duration of each phase (each bar is its own 100 %)", label: "Phase timeline per backend",
                       rows.map { ($0.0.rawValue, $0.1) })
    }

    /// One bar per row, split into its phases, each bar its own 100 %.
    static func stacked(title: String, label: String, left: Double = 110, _ rows: [(String, [(String, Double)])]) -> String {
        let width = 760, right = 640.0
        let height = 40 + 76 * max(rows.count, 1)
        var body = text(left, 18, title, weight: "bold")
        for (index, (name, steps)) in rows.enumerated() {
            let y = 34.0 + Double(index) * 76
            let total = steps.map(\.1).reduce(0, +)
            body += text(10, y + 16, name, size: 13, weight: "bold")
            var x = left
            // Labels flow under the bar, left to right, wrapping: small phases do not overlap.
            var labelX = 10.0, labelY = y + 36
            for (i, (name, ms)) in steps.enumerated() {
                let w = total > 0 ? ms / total * (right - left) : 0
                let color = palette[i % palette.count]
                body += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"22\" fill=\"%@\"><title>%@: %@</title></rect>",
                               x, y, max(w, 0.5), color, escape(name), escape(Format.duration(ms)))
                let label = "\(name) \(Format.duration(ms))"
                let labelWidth = Double(label.count) * 6 + 22
                if labelX + labelWidth > Double(width) - 10 {
                    labelX = 10
                    labelY += 14
                }
                body += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"%@\"/>", labelX, labelY - 8, color)
                body += text(labelX + 12, labelY, label, size: 10)
                labelX += labelWidth
                x += w
            }
            body += text(right + 8, y + 16, "total \(Format.duration(total))", size: 12)
        }
        return svg(width: width, height: height, title: label, body)
    }

    /// Workload results relative to bare (log scale around 1).
    static func ratios(_ results: RunResults) -> String {
        let ratios = results.summary.ratios.filter { $0.baseline == .bare && !MetricKey.instrumentWorkloads.contains($0.workload) }
        let width = 760, left = 230.0, right = 730.0
        let height = 50 + 22 * max(ratios.count, 1)
        var body = text(10, 18, "Workload results relative to bare (median ratio, log scale; 1 = as fast as bare)", weight: "bold")
        guard !ratios.isEmpty else {
            return svg(width: width, height: 60, title: "Workload ratios against bare", body + text(10, 44, "No workload beyond noop in this scenario (see scenarios/overhead.yaml)."))
        }
        let extreme = max(2, ratios.map { max($0.ratio, 1 / max($0.ratio, 1e-9)) }.max() ?? 2)
        let span = ceil(log10(extreme) * 2) / 2
        func x(_ r: Double) -> Double { left + (log10(max(r, 1e-9)) + span) / (2 * span) * (right - left) }
        body += String(format: "<line x1=\"%.1f\" y1=\"26\" x2=\"%.1f\" y2=\"%d\" stroke=\"#111\"/>", x(1), x(1), height - 6)
        for (index, ratio) in ratios.enumerated() {
            let y = 34.0 + Double(index) * 22
            body += text(10, y + 12, "\(ratio.workload).\(ratio.metric) (\(ratio.unit)) \(ratio.backend.rawValue)", size: 11)
            let a = x(1), b = x(ratio.ratio)
            body += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"14\" fill=\"%@\"/>", min(a, b), y + 2, max(abs(b - a), 1), colors[ratio.backend] ?? "#000")
            body += text(max(a, b) + 4, y + 13, String(format: "%.2f×", ratio.ratio), size: 10)
        }
        return svg(width: width, height: height, title: "Workload ratios against bare", body)
    }

    /// Memory per instance by the one instrument: PSS summed over the instance's host processes at READY.
    static func memory(_ results: RunResults) -> String {
        let rows = results.backends.compactMap { backend -> (BackendKind, Double)? in
            let values = results.values(backend, .pss)
            return values.isEmpty ? nil : (backend, Statistics.median(values))
        }
        return bars(title: "Memory per instance at READY (MiB, median PSS summed over its host processes)",
                    rows.map { ($0.0.rawValue, $0.1, colors[$0.0] ?? "#000") }, unit: "MiB")
    }

    /// Disk: what the image costs once, and what each instance adds, as measured.
    static func footprint(_ results: RunResults) -> String {
        var rows: [(String, Double, String)] = []
        for backend in results.backends {
            let image = results.values(backend, .diskImage), own = results.values(backend, .diskInstance)
            if !image.isEmpty { rows.append(("\(backend.rawValue): paid once (image)", Statistics.median(image), colors[backend] ?? "#000")) }
            if !own.isEmpty { rows.append(("\(backend.rawValue): each instance adds", Statistics.median(own) / 1024, colors[backend] ?? "#000")) }
        }
        if let kernel = results.environment.guestKernel, results.backends.contains(.vm) {
            rows.append(("of which the VM's kernel (structural)", Double(kernel.sizeBytes) / 1_048_576, "#f87171"))
        }
        return bars(title: "On disk (MiB, allocated blocks, median): paid once, and added by each instance", rows, unit: "MiB")
    }

    static func bars(title: String, _ rows: [(String, Double, String)], unit: String) -> String {
        let width = 760, left = 250.0, right = 680.0
        let height = 40 + 28 * max(rows.count, 1)
        var body = text(10, 18, title, weight: "bold")
        let top = max(rows.map(\.1).max() ?? 1, 1e-9)
        for (index, (label, value, color)) in rows.enumerated() {
            let y = 30.0 + Double(index) * 28
            body += text(10, y + 14, label, size: 12)
            let w = value / top * (right - left)
            body += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"%@\"/>", left, y + 2, max(w, 1), color)
            body += text(left + w + 6, y + 15, String(format: "%.1f %@", value, unit), size: 11)
        }
        if rows.isEmpty { body += text(10, 44, "not measured in this scenario") }
        return svg(width: width, height: height, title: title, body)
    }

    /// Lines against N: one series per backend, a log y axis (containers and
    /// VMs differ by orders of magnitude), each point labelled on hover.
    static func lines(title: String, _ series: [(String, String, [(Double, Double)])], xLabel: String, unit: String) -> String {
        let width = 760, height = 300, left = 70.0, right = 600.0, top = 34.0, bottom = 250.0
        let points = series.flatMap(\.2).filter { $0.1 > 0 }
        guard let xMax = points.map(\.0).max(), let yLow = points.map(\.1).min(), let yHigh = points.map(\.1).max() else {
            return svg(width: width, height: 60, title: title, text(10, 30, "not measured in this run"))
        }
        let lo = floor(log10(yLow)), hi = max(ceil(log10(yHigh)), lo + 1)
        func x(_ v: Double) -> Double { left + v / max(xMax, 1) * (right - left) }
        func y(_ v: Double) -> Double { bottom - (log10(v) - lo) / (hi - lo) * (bottom - top) }
        var body = text(10, 18, title, weight: "bold")
        var decade = lo
        while decade <= hi {
            let value = pow(10, decade)
            body += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e7eb\"/>", left, y(value), right, y(value))
            body += text(left - 6, y(value) + 4, String(format: "%.3g", value) + " " + unit, anchor: "end", size: 10)
            decade += 1
        }
        body += text((left + right) / 2, Double(height - 20), xLabel, anchor: "middle", size: 11)
        for tick in Set(points.map(\.0)).sorted() {
            body += text(x(tick), bottom + 14, String(format: "%.3g", tick), anchor: "middle", size: 10)
        }
        for (index, (name, color, values)) in series.enumerated() {
            let drawn = values.filter { $0.1 > 0 }.sorted { $0.0 < $1.0 }
            guard !drawn.isEmpty else { continue }
            body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + drawn.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ") + "\"/>"
            for point in drawn {
                body += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"><title>%@: %@ at %@</title></circle>", x(point.0), y(point.1), color,
                               escape(name), escape(String(format: "%.3g", point.1) + " " + unit), escape(String(format: "%.3g", point.0)))
            }
            body += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%@\"/>", right + 16, top + Double(index) * 18, color)
            body += text(right + 30, top + 9 + Double(index) * 18, name, size: 11)
        }
        return svg(width: width, height: height, title: title, body)
    }
}
