import Foundation
import LabModel
import Testing

/// A tiny keyed decoder front end over JSON, enough to exercise the models'
/// strict decoding helpers without YAML.
struct Probe: Decodable {
    var integer: Int?
    var number: Double?
    var size: UInt64?
    enum CodingKeys: String, CodingKey, CaseIterable { case integer, number, size }
    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        integer = try container.decodeInteger(.integer, in: 1...10)
        number = try container.decodeNumber(.number, in: 0.5...2, what: "a factor")
        size = try container.decodeSize(.size, in: (4 << 20)...(1 << 30), what: "a size")
    }
}

func decodeProbe(_ json: String) throws -> Probe {
    try JSONDecoder().decode(Probe.self, from: Data(json.utf8))
}

func problem(_ json: String) -> String {
    do {
        _ = try decodeProbe(json)
        return "accepted"
    } catch let error as DecodingError {
        if case .dataCorrupted(let context) = error { return CodingPathText.describe(context.codingPath) + ": " + context.debugDescription }
        return "\(error)"
    } catch {
        return "\(error)"
    }
}

@Suite("model decoding helpers")
struct DecodingTests {
    @Test func rangesAreCheckedAndNamed() throws {
        #expect(try decodeProbe("{\"integer\": 3, \"number\": 1.5, \"size\": \"64M\"}").size == 64 << 20)
        #expect(problem("{\"integer\": 11}") == "integer: 11 must be a whole number from 1 to 10")
        #expect(problem("{\"integer\": 2.5}") == "integer: 2.5 must be a whole number from 1 to 10")
        #expect(problem("{\"number\": 3}").contains("3 is out of range: a factor from 0.5 to 2"))
        #expect(problem("{\"size\": \"2G\"}").contains("'2G' is out of range: a size from 4 MiB to 1 GiB"))
        #expect(problem("{\"size\": \"lots\"}").contains("'lots' is not a size"))
        #expect(problem("{\"nope\": 1}").contains("unknown key 'nope'; accepted: integer, number, size"))
    }

    @Test func aNumberTooLargeForAnIntegerKeepsItsTextAndIsRefused() {
        #expect(problem("{\"integer\": 1e300}").contains("must be a whole number from 1 to 10"))
        #expect(problem("{\"size\": 1e300}").contains("is not a size"))
        #expect(problem("{\"size\": \"99999999999T\"}").contains("is too large"))
    }
}

@Suite("results file")
struct ResultsFileTests {
    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "isolab-model-\(UUID().uuidString).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func badFilesAreOneLineInvalidInput() throws {
        for (text, expected) in [
            ("not json", "not a JSON results file of the lab"),
            ("{\"schema_version\": 1}", "schema_version 1; this lab reads \(RunResults.currentSchemaVersion)"),
            ("{\"schema_version\": \(RunResults.currentSchemaVersion)}", "does not match schema_version"),
        ] {
            let path = try write(text)
            defer { unlink(path) }
            do {
                _ = try RunResults.load(file: path)
                Issue.record("accepted \(text)")
            } catch let error as LabError {
                #expect(error.code == .invalidInput && error.message.contains(expected), "\(error.message)")
                #expect(!error.message.contains("\n"))
            }
        }
        do {
            _ = try RunResults.load(file: "/nonexistent/results.json")
        } catch let error as LabError {
            #expect(error.message == "/nonexistent/results.json: no such file")
        }
    }
}

@Suite("timeline")
struct TimelineTests {
    @Test func phasesKeepTheirFirstInstantAndStepsAreDifferences() {
        var timeline = Timeline()
        timeline.mark("a", at: 1_000_000)
        timeline.mark("b", at: 3_500_000)
        timeline.mark("a", at: 9_000_000)
        #expect(timeline.phases.map(\.name) == ["a", "b"])
        #expect(timeline.duration("a", "b") == 2_500_000)
        #expect(timeline.duration("b", "a") == nil)
        #expect(timeline.steps().map(\.milliseconds) == [2.5])
    }
}
