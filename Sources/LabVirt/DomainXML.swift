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
    /// Host CPUs for the vCPUs and QEMU's own threads (nil: wherever the host schedules them).
    public var cpuset: [Int]?
    /// A raw disk image as the guest's `vda` (virtio-blk, no host page cache:
    /// `cache='none'`, O_DIRECT, as Felter et al. measured I/O).
    public var disk: String?
    /// TCG's translation-buffer size, MiB (QEMU reserves 1 GiB by default
    /// on a host of this size); nil leaves QEMU's default.
    public var tbCacheMiB: Int?
    /// With `disk`: the disk is a qcow2 overlay of this qcow2 file (a
    /// whole-OS guest's root), written out as its backing chain so that
    /// libvirt need not probe it.
    public var diskBacking: String?

    public init(name: String, accelerator: Accelerator, memoryMiB: Int, vcpus: Int, machine: Machine,
                kernel: String, initramfs: String, commandLine: String, consoleSocket: String,
                cpuset: [Int]? = nil, disk: String? = nil, tbCacheMiB: Int? = nil, diskBacking: String? = nil) {
        self.name = name
        self.accelerator = accelerator
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.machine = machine
        self.kernel = kernel
        self.initramfs = initramfs
        self.commandLine = commandLine
        self.consoleSocket = consoleSocket
        self.cpuset = cpuset
        self.disk = disk
        self.tbCacheMiB = tbCacheMiB
        self.diskBacking = diskBacking
    }

    public var element: XMLTree {
        var domain: [XMLTree] = [
            XMLTree("name", text: name),
            XMLTree("memory", [("unit", "MiB")], text: String(memoryMiB)),
        ]
        if let cpuset, !cpuset.isEmpty {
            // Every vCPU thread and QEMU's own threads on the given CPUs: the
            // same budget as a container or process pinned to them.
            let list = cpuset.map(String.init).joined(separator: ",")
            domain.append(XMLTree("vcpu", [("cpuset", list)], text: String(vcpus)))
            domain.append(XMLTree("cputune", (0..<vcpus).map { XMLTree("vcpupin", [("vcpu", String($0)), ("cpuset", list)]) }
                + [XMLTree("emulatorpin", [("cpuset", list)])]))
        } else {
            domain.append(XMLTree("vcpu", text: String(vcpus)))
        }
        domain.append(XMLTree("os", [
            XMLTree("type", [("arch", "x86_64"), ("machine", machine.rawValue)], text: "hvm"),
            XMLTree("kernel", text: kernel),
            XMLTree("initrd", text: initramfs),
            XMLTree("cmdline", text: commandLine),
        ]))
        // Without ACPI a pc guest cannot power itself off.
        var features = [XMLTree("acpi")]
        if accelerator == .tcg, let tbCacheMiB {
            features.append(XMLTree("tcg", [XMLTree("tb-cache", [("unit", "MiB")], text: String(tbCacheMiB))]))
        }
        domain.append(XMLTree("features", features))
        domain += [
            XMLTree("on_poweroff", text: "destroy"),
            XMLTree("on_reboot", text: "destroy"),
            XMLTree("on_crash", text: "destroy"),
        ]
        var devices: [XMLTree] = []
        if let disk, let diskBacking {
            devices.append(XMLTree("disk", [("type", "file"), ("device", "disk")], [
                XMLTree("driver", [("name", "qemu"), ("type", "qcow2"), ("cache", "none"), ("io", "native")]),
                XMLTree("source", [("file", disk)]),
                XMLTree("backingStore", [("type", "file")], [
                    XMLTree("format", [("type", "qcow2")]),
                    XMLTree("source", [("file", diskBacking)]),
                    XMLTree("backingStore"),
                ]),
                XMLTree("target", [("dev", "vda"), ("bus", "virtio")]),
            ]))
        } else if let disk {
            devices.append(XMLTree("disk", [("type", "file"), ("device", "disk")], [
                XMLTree("driver", [("name", "qemu"), ("type", "raw"), ("cache", "none"), ("io", "native")]),
                XMLTree("source", [("file", disk)]),
                XMLTree("target", [("dev", "vda"), ("bus", "virtio")]),
            ]))
        }
        devices += [
            XMLTree("serial", [("type", "unix")], [
                XMLTree("source", [("mode", "connect"), ("path", consoleSocket)]),
                XMLTree("target", [("port", "0")]),
            ]),
            // Nothing else: no network, no balloon, no USB, no display.
            XMLTree("controller", [("type", "usb"), ("model", "none")]),
            XMLTree("memballoon", [("model", "none")]),
        ]
        domain.append(XMLTree("devices", devices))
        // No relabelling: libvirt would otherwise chown the store's
        // kernel and initramfs, shared by concurrent guests, for each run.
        // QEMU (user libvirt-qemu) reads them as world-readable files and
        // connects to a world-writable socket in a directory of its own;
        // a disk image is made its own by the lab.
        domain.append(XMLTree("seclabel", [("type", "none"), ("model", "dac")]))
        // libvirt 9 (Debian 12) reads back the started guest's CPU through
        // QMP, one `qom-get` per CPU property: hundreds of round trips in
        // every start (seen in libvirtd's debug log; docs/vms.md), before the
        // guest may run. Without the capability below it reads two words
        // of CPUID features instead; libvirt 11 with QEMU 10.1 batches the
        // read (`qom-list-get`) and needs none of this. The lab asks for no
        // CPU model or feature (no <cpu>: QEMU's default, qemu64 under TCG),
        // so nothing is checked by that read. libvirt calls the knob a debug
        // one and marks the domain tainted (custom-hypervisor-feature).
        domain.append(XMLTree("qemu:capabilities", [XMLTree("qemu:del", [("capability", "cpu-unavailable-features")])]))
        return XMLTree("domain", [("type", accelerator == .kvm ? "kvm" : "qemu"), ("xmlns:qemu", "http://libvirt.org/schemas/domain/qemu/1.0")], domain)
    }

    public var xml: String { element.render() }
}
