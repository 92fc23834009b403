/// Reads the agent's work from the kernel command line, since a VM's PID 1
/// has no argv: `isolab.run=<arguments>`, the arguments of `isolab-agent run`
/// separated by spaces and percent-encoded (`isolab.run=cpu%20--seconds%201`).
/// Several `isolab.run=` are joined in order. `isolab.module=` and
/// `isolab.volume=` ask the init to load a module and mount a disk first.
/// Other `isolab.` keys are errors; the kernel's own parameters are ignored.
public enum KernelCommandLine {
    /// The kernel keeps command lines far shorter (2 KiB on x86); anything
    /// longer is not a command line.
    public static let maximumLength = 65_536
    public static let acceptedKeys = ["isolab.run", "isolab.module", "isolab.volume"]

    /// A disk the guest's init mounts before the workloads: `isolab.volume=/dev/vda:/data`
    /// (ext4, made by the host).
    public struct Volume: Sendable, Equatable {
        public var device: String
        public var directory: String

        public init(device: String, directory: String) {
            self.device = device
            self.directory = directory
        }
    }

    /// What the kernel command line asks of the agent as a VM's init.
    public struct Settings: Sendable, Equatable {
        /// The arguments of `isolab-agent run`.
        public var run: [String] = []
        /// Kernel modules in the initramfs to load first, in order
        /// (`isolab.module=/lib/modules/virtio.ko`, repeatable).
        public var modules: [String] = []
        public var volumes: [Volume] = []

        public init(run: [String] = [], modules: [String] = [], volumes: [Volume] = []) {
            self.run = run
            self.modules = modules
            self.volumes = volumes
        }
    }

    /// The `isolab.` keys for `settings`, as the host writes them on a
    /// guest's command line and `settings(_:)` reads them back.
    public static func render(_ settings: Settings) -> String {
        var keys = ["isolab.run=" + PercentEncoding.encodeField(settings.run.joined(separator: " "))]
        keys += settings.modules.map { "isolab.module=" + PercentEncoding.encodeField($0) }
        keys += settings.volumes.map { "isolab.volume=" + $0.device + ":" + $0.directory }
        return keys.joined(separator: " ")
    }

    public static func runArguments(_ text: String) throws(AgentError) -> [String] {
        try settings(text).run
    }

    public static func settings(_ text: String) throws(AgentError) -> Settings {
        guard text.utf8.count <= maximumLength else {
            throw .badInput("kernel command line is \(text.utf8.count) bytes, longer than \(maximumLength)")
        }
        var settings = Settings()
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
            guard acceptedKeys.contains(String(key)) else {
                throw .badInput("unknown kernel parameter \(key)", accepted: acceptedKeys)
            }
            guard let value, !value.isEmpty else {
                throw .badInput("\(key) has no value; give one, e.g. isolab.run=noop")
            }
            let decoded: String
            do {
                decoded = try PercentEncoding.decode(value)
            } catch {
                throw .badInput("\(key): \(error.reason)")
            }
            switch key {
            case "isolab.module":
                guard decoded.hasPrefix("/"), decoded.hasSuffix(".ko") else {
                    throw .badInput("isolab.module=\(decoded) is not an absolute path of a .ko file")
                }
                settings.modules.append(decoded)
            case "isolab.volume":
                let parts = decoded.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, parts[0].hasPrefix("/dev/"), parts[1].hasPrefix("/") else {
                    throw .badInput("isolab.volume=\(decoded) is not DEVICE:DIRECTORY, e.g. /dev/vda:/data")
                }
                settings.volumes.append(Volume(device: parts[0], directory: parts[1]))
            default:
                settings.run += decoded.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                found = true
            }
        }
        guard found else {
            throw .badInput("no isolab.run= on the kernel command line; append e.g. isolab.run=noop")
        }
        guard !settings.run.isEmpty else {
            throw .badInput("isolab.run holds only spaces; give the workload, e.g. isolab.run=noop")
        }
        return settings
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
