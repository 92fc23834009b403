/// Reads the agent's work from the kernel command line, since a VM's PID 1
/// has no argv: `isolab.run=<arguments>`, the arguments of `isolab-agent run`
/// separated by spaces and percent-encoded (`isolab.run=cpu%20--seconds%201`).
/// Several `isolab.run=` are joined in order. `isolab.module=` and
/// `isolab.volume=` ask the init to load a module and mount a disk first;
/// `isolab.root=` to make an image's disk the root; `isolab.exec=` (one per
/// argument) with `isolab.env=`, `isolab.workdir=` and `isolab.user=` to run
/// a program instead of workloads.
/// Other `isolab.` keys are errors; the kernel's own parameters are ignored.
public enum KernelCommandLine {
    /// The kernel keeps command lines far shorter (2 KiB on x86); anything
    /// longer is not a command line.
    public static let maximumLength = 65_536
    public static let acceptedKeys = ["isolab.run", "isolab.module", "isolab.volume", "isolab.root", "isolab.exec", "isolab.env",
                                      "isolab.workdir", "isolab.user"]

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
        /// An image's disk (`isolab.root=/dev/vda`, ext4): the init mounts it
        /// after the modules and makes it the root before READY, so that the
        /// workloads run in the image's tree, as in a container.
        public var root: String?
        /// A program to run instead of workloads (`isolab.exec=`, one per
        /// argument, in order), with the image's environment, working
        /// directory and user; its output relayed as OUTPUT lines.
        public var exec: Exec?

        public struct Exec: Sendable, Equatable {
            public var argv: [String]
            public var environment: [String] = []
            public var workdir = "/"
            /// `uid:gid`, numeric; nil: root.
            public var user: String?

            public init(argv: [String], environment: [String] = [], workdir: String = "/", user: String? = nil) {
                self.argv = argv
                self.environment = environment
                self.workdir = workdir
                self.user = user
            }
        }

        public init(run: [String] = [], modules: [String] = [], volumes: [Volume] = [], root: String? = nil, exec: Exec? = nil) {
            self.run = run
            self.modules = modules
            self.volumes = volumes
            self.root = root
            self.exec = exec
        }
    }

    /// The `isolab.` keys for `settings`, as the host writes them on a
    /// guest's command line and `settings(_:)` reads them back.
    public static func render(_ settings: Settings) -> String {
        var keys = settings.exec == nil ? ["isolab.run=" + PercentEncoding.encodeField(settings.run.joined(separator: " "))] : []
        keys += settings.modules.map { "isolab.module=" + PercentEncoding.encodeField($0) }
        keys += settings.volumes.map { "isolab.volume=" + $0.device + ":" + $0.directory }
        if let root = settings.root { keys.append("isolab.root=" + PercentEncoding.encodeField(root)) }
        if let exec = settings.exec {
            // One key per argument, in order (an empty value is no value: the host refuses empty arguments).
            keys += exec.argv.map { "isolab.exec=" + PercentEncoding.encodeField($0) }
            keys += exec.environment.map { "isolab.env=" + PercentEncoding.encodeField($0) }
            keys.append("isolab.workdir=" + PercentEncoding.encodeField(exec.workdir))
            if let user = exec.user { keys.append("isolab.user=" + PercentEncoding.encodeField(user)) }
        }
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
            case "isolab.root":
                guard decoded.hasPrefix("/dev/") else { throw .badInput("isolab.root=\(decoded) is not a device, e.g. /dev/vda") }
                settings.root = decoded
            case "isolab.exec":
                if settings.exec == nil { settings.exec = Settings.Exec(argv: []) }
                settings.exec?.argv.append(decoded)
                found = true
            case "isolab.env":
                guard decoded.contains("=") else { throw .badInput("isolab.env=\(decoded) is not NAME=VALUE") }
                if settings.exec == nil { settings.exec = Settings.Exec(argv: []) }
                settings.exec?.environment.append(decoded)
            case "isolab.workdir":
                guard decoded.hasPrefix("/") else { throw .badInput("isolab.workdir=\(decoded) is not an absolute path") }
                if settings.exec == nil { settings.exec = Settings.Exec(argv: []) }
                settings.exec?.workdir = decoded
            case "isolab.user":
                let parts = decoded.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, UInt32(parts[0]) != nil, UInt32(parts[1]) != nil else {
                    throw .badInput("isolab.user=\(decoded) is not UID:GID")
                }
                if settings.exec == nil { settings.exec = Settings.Exec(argv: []) }
                settings.exec?.user = decoded
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
        if let exec = settings.exec {
            guard !exec.argv.isEmpty else { throw .badInput("isolab.env, isolab.workdir or isolab.user without isolab.exec") }
            guard settings.run.isEmpty else { throw .badInput("isolab.run and isolab.exec both given; a guest runs workloads or a program") }
            return settings
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
