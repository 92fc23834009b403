import Foundation
import FoundationXML
import LabCore
import LabModel
import Testing

@testable import LabVirt

@Suite("domain XML builder")
struct DomainXMLTests {
    func golden(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    func spec() throws -> VMSpec {
        var spec = VMSpec(id: "0123456789ab",
                          kernel: GuestKernel(path: "/var/lib/isolab/kernels/vmlinuz-6.1.0-56-cloud-amd64", version: "6.1.0-56-cloud-amd64", sizeBytes: 1),
                          initramfs: "/var/lib/isolab/images/abc/initramfs.cpio", workload: ["cpu", "--seconds", "1"])
        spec.accelerator = .tcg
        return spec
    }

    @Test func transientTCGGuestMatchesTheGoldenFile() throws {
        let spec = try spec()
        let definition = DomainDefinition(
            name: spec.domainName, accelerator: spec.accelerator, memoryMiB: 256, vcpus: 1, machine: .pc,
            kernel: spec.kernel.path, initramfs: spec.initramfs, commandLine: spec.commandLine,
            consoleSocket: "/var/lib/isolab/run/vms/0123456789ab/console.sock")
        #expect(definition.xml == (try golden("pc-tcg.xml")))
    }

    /// A whole-OS guest: the image's kernel and initrd, its disk through a
    /// qcow2 overlay with the backing chain written out, root on vda.
    @Test func wholeOSGuestBootsItsDiskThroughAnOverlay() throws {
        var spec = try spec()
        spec.osDisk = "/var/lib/isolab/images/abc/disk.qcow2"
        #expect(spec.commandLine.hasPrefix("root=/dev/vda rw console=ttyS0 quiet panic=-1 systemd.getty_auto=0 isolab.run="))
        let definition = DomainDefinition(
            name: spec.domainName, accelerator: .tcg, memoryMiB: 512, vcpus: 1, machine: .pc,
            kernel: "/var/lib/isolab/images/abc/vmlinuz", initramfs: "/var/lib/isolab/images/abc/initrd.img", commandLine: spec.commandLine,
            consoleSocket: "/var/lib/isolab/run/vms/0123456789ab/console.sock",
            disk: "/var/lib/isolab/run/vms/0123456789ab/root.qcow2", diskBacking: spec.osDisk)
        if ProcessInfo.processInfo.environment["ISOLAB_UPDATE_GOLDEN"] == "1" {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/os-overlay.xml")
            try definition.xml.write(to: url, atomically: true, encoding: .utf8)
        }
        #expect(definition.xml == (try golden("os-overlay.xml")))
        let document = try XMLDocument(xmlString: definition.xml)
        let backing = try document.nodes(forXPath: "/domain/devices/disk/backingStore/source/@file").first?.stringValue
        #expect(backing == "/var/lib/isolab/images/abc/disk.qcow2")
        #expect(try document.nodes(forXPath: "/domain/devices/disk/driver/@type").first?.stringValue == "qcow2")
    }

    @Test func kvmAndMachineChangeOnlyTheirAttributes() throws {
        let definition = DomainDefinition(
            name: "isolab-x", accelerator: .kvm, memoryMiB: 512, vcpus: 2, machine: .q35, kernel: "/k", initramfs: "/i",
            commandLine: "c", consoleSocket: "/s")
        let xml = definition.xml
        #expect(xml.hasPrefix("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"))
        #expect(xml.contains("<type arch='x86_64' machine='q35'>hvm</type>"))
        #expect(xml.contains("<memory unit='MiB'>512</memory>") && xml.contains("<vcpu>2</vcpu>"))
    }

    @Test func hostileValuesAreEscaped() throws {
        let definition = DomainDefinition(
            name: "isolab-</name><evil a='1'>", accelerator: .tcg, memoryMiB: 256, vcpus: 1, machine: .pc,
            kernel: "/k'&\"", initramfs: "/i\u{1}x", commandLine: "a<b>c & d\nfoo", consoleSocket: "/s' onload='x")
        let xml = definition.xml
        #expect(xml.contains("<name>isolab-&lt;/name&gt;&lt;evil a=&apos;1&apos;&gt;</name>"))
        #expect(xml.contains("<kernel>/k&apos;&amp;&quot;</kernel>"))
        #expect(xml.contains("<initrd>/ix</initrd>"))
        #expect(xml.contains("<cmdline>a&lt;b&gt;c &amp; d&#10;foo</cmdline>"))
        #expect(xml.contains("path='/s&apos; onload=&apos;x'"))
        // Still one domain element with the same children.
        let document = try XMLDocumentCheck.childNames(xml)
        #expect(document == ["name", "memory", "vcpu", "os", "features", "on_poweroff", "on_reboot", "on_crash", "devices", "seclabel", "qemu:capabilities"])
    }

    @Test func workloadIsPercentEncodedOnTheCommandLine() throws {
        var spec = try spec()
        spec.workload = ["fileio", "--dir", "/tmp/a b", "--mib", "8"]
        #expect(spec.commandLine == "console=ttyS0 quiet panic=-1 isolab.run=fileio%20--dir%20/tmp/a%20b%20--mib%208")
        #expect(spec.domainName == "isolab-0123456789ab")
    }
}

/// The top-level children of the domain element, read with Foundation's own
/// XML parser: what the escaping must keep intact.
enum XMLDocumentCheck {
    final class Delegate: NSObject, XMLParserDelegate {
        var depth = 0
        var names: [String] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            depth += 1
            if depth == 2 { names.append(name) }
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { depth -= 1 }
    }

    static func childNames(_ xml: String) throws -> [String] {
        let parser = XMLParser(data: Data(xml.utf8))
        let delegate = Delegate()
        parser.delegate = delegate
        guard parser.parse() else { throw LabError(.failed, "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")") }
        return delegate.names
    }
}
