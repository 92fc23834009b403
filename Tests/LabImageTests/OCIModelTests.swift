import Foundation
import LabCore
import LabModel
import Testing

@testable import LabImage

@Suite("OCI documents, digests and names")
struct OCIModelTests {
    @Test func digestsAreCheckedBeforeTheyBecomePaths() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try OCI.Digest(parsing: "sha256:" + hex).hex == hex)
        for bad in ["sha256:" + hex.uppercased(), "sha256:../../etc/passwd", "sha512:" + hex, "sha256:" + hex.dropLast(), hex] {
            #expect(throws: LabError.self, "\(bad)") { try OCI.Digest(parsing: bad) }
        }
    }

    /// image-spec config.md: ChainID(L0|L1) = sha256(ChainID(L0) + " " + DiffID(L1)).
    @Test func chainIDsFollowTheSpec() throws {
        let a = OCI.Digest(hex: String(repeating: "a", count: 64)), b = OCI.Digest(hex: String(repeating: "b", count: 64))
        let chain = OCI.chainIDs([a, b])
        #expect(chain[0] == a)
        // python3: hashlib.sha256(("sha256:"+"a"*64+" sha256:"+"b"*64).encode()).hexdigest()
        #expect(chain[1].hex == "ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c")
    }

    @Test func referencesSplitAtTheFirstColonAsSkopeoDoes() {
        #expect(OCIImporter.split("/tmp/layout:v1") == ("/tmp/layout", "v1"))
        #expect(OCIImporter.split("/tmp/layout") == ("/tmp/layout", nil))
        #expect(OCIImporter.split("/tmp/layout:") == ("/tmp/layout", nil))
        #expect(OCIImporter.split("layout:a:b") == ("layout", "a:b"))
    }

    @Test func layerNamesThatClimbOrAreAbsoluteAreRefused() throws {
        #expect(try LayerArchive.relativeName("./etc/passwd", what: "t") == "etc/passwd")
        #expect(try LayerArchive.relativeName("etc//x/", what: "t") == "etc/x")
        #expect(try LayerArchive.relativeName("./", what: "t") == "")
        for bad in ["/etc/passwd", "../x", "etc/../../x", "a/.."] {
            #expect(throws: LabError.self, "\(bad)") { try LayerArchive.relativeName(bad, what: "t") }
        }
    }

    @Test func layerMediaTypesNameTheirCompression() {
        #expect(OCI.MediaType.compression(ofLayer: OCI.MediaType.layerTar) == .uncompressed)
        #expect(OCI.MediaType.compression(ofLayer: OCI.MediaType.dockerLayerGzip) == .gzip)
        #expect(OCI.MediaType.compression(ofLayer: OCI.MediaType.layerZstd) == .zstd)
        #expect(OCI.MediaType.compression(ofLayer: "application/vnd.oci.image.config.v1+json") == nil)
    }

    /// Unknown fields are ignored and optional ones may be null (config.md).
    @Test func configsDecodeWithUnknownAndNullFields() throws {
        let json = #"{"architecture":"amd64","os":"linux","config":{"Env":null,"User":"","ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":[]},"container_config":{}}"#
        let config = try JSONDecoder().decode(OCI.ImageConfig.self, from: Data(json.utf8))
        #expect(config.config?.Env == nil && config.rootfs.diff_ids.isEmpty)
    }
}
