import Testing
@testable import TollgateDesign
import Yams

/// Whatever an answer says, the generated YAML reads it back as the same text: plain where that is safe,
/// double-quoted otherwise.
@Suite struct InitYAMLWriterTests {
    static let samples = [
        "datasets", "Daily market datasets (JSON)", "Customer records, priced per record", "reports:read", "eip155:84532",
        "http://127.0.0.1:8403", "/datasets/*", "?export", ".tollgate/audit-archive", "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "yes", "no", "on", "off", "true", "null", "~", "0.01", "007", "1e3", "12:30", "2026-11-25", "a: b", "a #b", "#x", "- x", "*x", "&x",
        "!x", "|x", ">x", "%x", "@x", "`x", "[x]", "{x}", "x, y", "it's", "'q'", "\"q\"", "back\\slash", "tab\there", "line\nbreak",
        "ünïcode — dash", " lead", "trail ", "", "x:", "-", "?",
    ]

    @Test(arguments: samples)
    func aBlockScalarReadsBackAsWritten(_ text: String) throws {
        let yaml = "key: \(InitYAMLWriter.scalar(text))\n"
        let value = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        #expect(value["key"] as? String == text, "\(yaml)")
    }

    @Test(arguments: samples)
    func aFlowListItemReadsBackAsWritten(_ text: String) throws {
        let yaml = "key: \(InitYAMLWriter.flowList([text, "z"]))\n"
        let value = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        #expect(value["key"] as? [String] == [text, "z"], "\(yaml)")
    }
}
