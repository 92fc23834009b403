/// Reads the agent's work from the kernel command line, since a VM's PID 1
/// has no argv: `isolab.run=<arguments>`, the arguments of `isolab-agent run`
/// separated by spaces and percent-encoded (`isolab.run=cpu%20--seconds%201`).
/// Several `isolab.run=` are joined in order. Other `isolab.` keys are errors;
/// the kernel's own parameters are ignored.
public enum KernelCommandLine {
    /// The kernel keeps command lines far shorter (2 KiB on x86); anything
    /// longer is not a command line.
    public static let maximumLength = 65_536
    public static let acceptedKeys = ["isolab.run"]

    public static func runArguments(_ text: String) throws(AgentError) -> [String] {
        guard text.utf8.count <= maximumLength else {
            throw .badInput("kernel command line is \(text.utf8.count) bytes, longer than \(maximumLength)")
        }
        var arguments: [String] = []
        var found = false
        for token in tokens(text) {
            let key: Substring
            let value: Substring?
            if let eq = token.firstIndex(of: "=") {
                key = token[..<eq]
                value = token[token.index(after: eq)...]
            } else {
                key = token[...]
                value = nil
            }
            guard key.hasPrefix("isolab.") else { continue }
            guard key == "isolab.run" else {
                throw .badInput("unknown kernel parameter \(key)", accepted: acceptedKeys)
            }
            guard let value, !value.isEmpty else {
                throw .badInput("isolab.run has no value; give the workload, e.g. isolab.run=noop")
            }
            let decoded: String
            do {
                decoded = try PercentEncoding.decode(value)
            } catch {
                throw .badInput("isolab.run: \(error.reason)")
            }
            arguments += decoded.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            found = true
        }
        guard found else {
            throw .badInput("no isolab.run= on the kernel command line; append e.g. isolab.run=noop")
        }
        guard !arguments.isEmpty else {
            throw .badInput("isolab.run holds only spaces; give the workload, e.g. isolab.run=noop")
        }
        return arguments
    }

    /// Splits like the kernel's `next_arg`: whitespace separates, double
    /// quotes group (and are removed).
    static func tokens(_ text: String) -> [String] {
        var result: [String] = []
        var current = ""
        var quoted = false
        var inToken = false
        for scalar in text.unicodeScalars {
            if scalar == "\"" {
                quoted.toggle()
                inToken = true
            } else if !quoted && (scalar == " " || scalar == "\n" || scalar == "\t") {
                if inToken { result.append(current) }
                current = ""
                inToken = false
            } else {
                current.unicodeScalars.append(scalar)
                inToken = true
            }
        }
        if inToken { result.append(current) }
        return result
    }
}
