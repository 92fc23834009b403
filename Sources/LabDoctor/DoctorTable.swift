import LabCore

extension DoctorReport {
    /// The terminal table: one row per check, and a fix line under each that fails.
    public func renderTable() -> String {
        let width = checks.map(\.id.count).max() ?? 10
        var lines: [String] = []
        for check in checks {
            let mark = check.usable ? "ok  " : (check.required ? "FAIL" : "--  ")
            lines.append("\(mark)  \(check.id.padding(width))  \(check.found)")
            if let fix = check.fix {
                lines.append("      \(String(repeating: " ", count: width))  fix: \(fix)")
            }
        }
        lines.append("")
        lines.append("containers: \(canRunContainers ? "can run" : "cannot run")")
        let accel = verdict(.kvm)?.usable == true ? "KVM" : (verdict(.tcg)?.usable == true ? "TCG (software emulation; KVM unusable here)" : "none")
        lines.append("VMs: \(canRunVMs ? "can run, accelerator \(accel)" : "cannot run")")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
