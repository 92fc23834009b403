import LabModel

/// A small XML element tree: every attribute value and text is escaped when
/// written, so no name or path can change the document's structure.
public struct XMLTree: Sendable, Equatable {
    public var name: String
    public var attributes: [(String, String)]
    public var children: [XMLTree]
    public var text: String?

    public init(_ name: String, _ attributes: [(String, String)] = [], text: String? = nil, _ children: [XMLTree] = []) {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    public init(_ name: String, _ children: [XMLTree]) {
        self.init(name, [], children)
    }

    public static func == (a: XMLTree, b: XMLTree) -> Bool { a.render() == b.render() }

    public func render(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        var line = pad + "<" + name
        for (key, value) in attributes { line += " \(key)='\(Self.escape(value))'" }
        if children.isEmpty {
            if let text { return line + ">" + Self.escape(text) + "</\(name)>\n" }
            return line + "/>\n"
        }
        var out = line + ">\n"
        for child in children { out += child.render(indent: indent + 1) }
        return out + pad + "</\(name)>\n"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            case "\n": out += "&#10;"
            case "\t": out += "&#9;"
            case "\r": out += "&#13;"
            // XML 1.0 cannot carry other control characters at all: drop them.
            case _ where scalar.value < 0x20: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// A transient guest booted straight from a kernel and an initramfs: the
/// domain XML libvirt is given, built from typed fields.
public struct DomainDefinition: Sendable, Equatable {
    public typealias Machine = MachineType

    public var name: String
    public var accelerator: Accelerator
    public var memoryMiB: Int
    public var vcpus: Int
    public var machine: Machine
    public var kernel: String
    public var initramfs: String
    public var commandLine: String
    /// The Unix socket the lab listens on; the guest's first serial port connects to it.
    public var consoleSocket: String

    public init(name: String, accelerator: Accelerator, memoryMiB: Int, vcpus: Int, machine: Machine,
                kernel: String, initramfs: String, commandLine: String, consoleSocket: String) {
        self.name = name
        self.accelerator = accelerator
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.machine = machine
        self.kernel = kernel
        self.initramfs = initramfs
        self.commandLine = commandLine
        self.consoleSocket = consoleSocket
    }

    public var element: XMLTree {
        XMLTree("domain", [("type", accelerator == .kvm ? "kvm" : "qemu")], [
            XMLTree("name", text: name),
            XMLTree("memory", [("unit", "MiB")], text: String(memoryMiB)),
            XMLTree("vcpu", text: String(vcpus)),
            XMLTree("os", [
                XMLTree("type", [("arch", "x86_64"), ("machine", machine.rawValue)], text: "hvm"),
                XMLTree("kernel", text: kernel),
                XMLTree("initrd", text: initramfs),
                XMLTree("cmdline", text: commandLine),
            ]),
            // Without ACPI a pc guest cannot power itself off.
            XMLTree("features", [XMLTree("acpi")]),
            XMLTree("on_poweroff", text: "destroy"),
            XMLTree("on_reboot", text: "destroy"),
            XMLTree("on_crash", text: "destroy"),
            XMLTree("devices", [
                XMLTree("serial", [("type", "unix")], [
                    XMLTree("source", [("mode", "connect"), ("path", consoleSocket)]),
                    XMLTree("target", [("port", "0")]),
                ]),
                // Nothing else: no disk, no network, no balloon, no USB, no display.
                XMLTree("controller", [("type", "usb"), ("model", "none")]),
                XMLTree("memballoon", [("model", "none")]),
            ]),
            // No relabelling: libvirt would otherwise chown the store's
            // kernel and initramfs, shared by concurrent guests, for each run.
            // QEMU (user libvirt-qemu) reads them as world-readable files and
            // connects to a world-writable socket in a directory of its own.
            XMLTree("seclabel", [("type", "none"), ("model", "dac")]),
        ])
    }

    public var xml: String { element.render() }
}
