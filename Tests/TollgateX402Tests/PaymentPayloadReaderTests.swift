import Foundation
import HTTPTypes
import Testing
import TollgateCore
@testable import TollgateX402

/// The hand reader of payment payloads (`X402.PaymentPayload(json:)` over `StrictJSON.parse`) accepts and refuses
/// exactly what `JSONDecoder` did, member by member: every member of the SDK's payload removed, nulled, or given
/// each other JSON type.
@Suite struct PaymentPayloadReaderTests {
    static let sdkPayload: JSONValue = {
        let bytes = HeaderCodec.base64Bytes(WireFixtures.shared.paymentSignature)!
        var tree = try! StrictJSON.parse(bytes).get()
        // Every optional member present, so each can be taken away too.
        tree = tree.setting(["extensions"], to: .object(["payment-identifier": .object(["info": .object(["id": .string("pay_0123456789abcdef")])])]))
        return tree.setting(["accepted", "extra", "tollgate"], to: .string("token"))
    }()

    static let replacements: [JSONValue?] = [nil, .null, .integer(7), .number(2.5), .string("x"), .bool(true), .array([]), .object([:])]

    @Test func everyMemberChangedReadsAsFoundationReadsIt() throws {
        let paths = Self.sdkPayload.memberPaths()
        #expect(paths.count > 20)
        var accepted = 0, refused = 0
        for path in paths {
            for replacement in Self.replacements {
                let variant = Self.sdkPayload.setting(path, to: replacement)
                let bytes = variant.canonicalBytes
                let byHand = StrictJSON.parse(bytes).flatMap { .success(X402.PaymentPayload(json: $0)) }
                let byFoundation = try? JSONDecoder().decode(X402.PaymentPayload.self, from: Data(bytes))
                #expect((try? byHand.get()) == byFoundation, "\(path.joined(separator: ".")) = \(String(describing: replacement))")
                if byFoundation == nil { refused += 1 } else { accepted += 1 }
            }
        }
        // Both outcomes are exercised: optional members may go, required ones may not.
        #expect(accepted > 0 && refused > accepted)
    }

    @Test func wholeNumbersCountHoweverTheyAreWritten() throws {
        for version in [JSONValue.integer(2), .number(2.0)] {
            let bytes = Self.sdkPayload.setting(["x402Version"], to: version).canonicalBytes
            #expect(X402.PaymentPayload(json: try StrictJSON.parse(bytes).get())?.x402Version == 2)
        }
        let text = String(decoding: Self.sdkPayload.canonicalBytes, as: UTF8.self).replacingOccurrences(of: #""maxTimeoutSeconds":300"#,
                                                                                                     with: #""maxTimeoutSeconds":3e2"#)
        #expect(text.contains("3e2"))
        #expect(X402.PaymentPayload(json: try StrictJSON.parse(Array(text.utf8)).get())?.accepted.maxTimeoutSeconds == 300)
    }

    /// Through the rail: the same payload spelled with a fractional timeout, a version of 1, a repeated nonce and a
    /// nonce that is a number are each refused with the reason that names it.
    @Test func theRailRefusesEachBadSpellingWithItsReason() throws {
        let rail = ExactEVMRail(assets: [], facilitators: FacilitatorPool([]))
        let good = String(decoding: Self.sdkPayload.canonicalBytes, as: UTF8.self)
        let nonce = try #require(Self.sdkPayload["payload"]?["authorization"]?["nonce"]?.string)
        let cases: [(String, Reason, String)] = [
            (good.replacingOccurrences(of: #""maxTimeoutSeconds":300"#, with: #""maxTimeoutSeconds":300.5"#), .invalidPayload, "not an x402 v2"),
            (good.replacingOccurrences(of: #""x402Version":2"#, with: #""x402Version":1"#), .invalidVersion, "x402Version 1"),
            (good.replacingOccurrences(of: #""nonce":"\#(nonce)""#, with: #""nonce":"\#(nonce)","\u006eonce":"0x00""#), .invalidPayload,
             "appears twice"),
            (good.replacingOccurrences(of: #""nonce":"\#(nonce)""#, with: #""nonce":1"#), .invalidPayload, "not an x402 v2"),
        ]
        for (text, reason, detail) in cases {
            #expect(text != good)
            var fields = HTTPFields()
            fields[HTTPField.Name(X402.paymentSignatureHeader)!] = HeaderCodec.base64(Array(text.utf8))
            guard case .malformed(let refused, let said) = rail.decode(fields) else {
                Issue.record("accepted: \(text)")
                continue
            }
            #expect(refused == reason)
            #expect(said.contains(detail), "\(said)")
        }
    }
}

extension JSONValue {
    /// The paths of every member of every object, depth first.
    func memberPaths(_ prefix: [String] = []) -> [[String]] {
        guard case .object(let members) = self else { return [] }
        return members.keys.sorted().flatMap { key in [prefix + [key]] + members[key]!.memberPaths(prefix + [key]) }
    }

    /// This tree with the member at `path` replaced (nil: removed); objects on the way are created.
    func setting(_ path: [String], to value: JSONValue?) -> JSONValue {
        guard let key = path.first else { return value ?? .null }
        var members = object ?? [:]
        if path.count == 1 {
            members[key] = value
        } else {
            members[key] = (members[key] ?? .object([:])).setting(Array(path.dropFirst()), to: value)
        }
        return .object(members)
    }
}
