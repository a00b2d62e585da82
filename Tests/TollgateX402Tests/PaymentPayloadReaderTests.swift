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
        Self.expectSameReading(of: Self.sdkPayload, minimumPaths: 20) { X402.PaymentPayload(json: $0) }
    }

    static let v1Payload: JSONValue = .object([
        "x402Version": .integer(1), "scheme": .string("exact"), "network": .string("base-sepolia"),
        "payload": sdkPayload["payload"]!,
    ])

    static let v1Requirements: JSONValue = JSONValue.parse(JSONWriter.bytes(X402V1.PaymentRequirements(
        scheme: "exact", network: "base-sepolia", maxAmountRequired: "2500", resource: "http://127.0.0.1:8402/datasets/prices",
        description: "prices", mimeType: "application/json", outputSchema: .object(["input": .object(["type": .string("http")])]),
        payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", maxTimeoutSeconds: 60, asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        extra: ["name": .string("USDC"), "version": .string("2")])))!

    @Test func v1MessagesReadAsFoundationReadsThem() throws {
        Self.expectSameReading(of: Self.v1Payload, minimumPaths: 10) { JSONObjectReader($0).flatMap(X402V1.PaymentPayload.init) }
        Self.expectSameReading(of: Self.v1Requirements, minimumPaths: 10) { JSONObjectReader($0).flatMap(X402V1.PaymentRequirements.init) }
    }

    @Test func facilitatorAnswersReadAsFoundationReadsThem() throws {
        let verified = X402.VerifyResponse(isValid: false, invalidReason: "insufficient_funds", invalidMessage: "short", payer: "0xab")
        Self.expectSameReading(of: try StrictJSON.parse(JSONWriter.bytes(verified)).get(), minimumPaths: 3) { X402.VerifyResponse(json: $0) }
        let settled = X402.SettleResponse(success: true, errorReason: "none", errorMessage: "none", payer: "0xab", transaction: "0x01",
                                          network: "eip155:84532", amount: "10")
        Self.expectSameReading(of: try StrictJSON.parse(JSONWriter.bytes(settled)).get(), minimumPaths: 6) { X402.SettleResponse(json: $0) }
        // What the development facilitator writes reads back as it was.
        #expect(X402.VerifyResponse(json: try StrictJSON.parse(JSONWriter.bytes(verified)).get()) == verified)
        #expect(X402.SettleResponse(json: try StrictJSON.parse(JSONWriter.bytes(settled)).get()) == settled)
    }

    /// A facilitator's body of either version reads as the facilitator read it with `JSONDecoder`, and a body with a
    /// repeated key is refused: the facilitator and the gateway cannot be shown two payers in one body.
    @Test func facilitatorBodiesReadOnceAndStrictly() throws {
        let payload = try #require(X402.PaymentPayload(json: Self.sdkPayload))
        let v2 = X402.FacilitatorRequest(payload: payload, requirements: payload.accepted)
        let contents = try #require(v2.contents())
        let decoded = try JSONDecoder().decode(X402.FacilitatorRequest.Contents.self, from: Data(v2.body))
        #expect(contents.x402Version == 2 && contents.paymentPayload == decoded.paymentPayload
            && contents.paymentRequirements == decoded.paymentRequirements)

        let v1 = X402.FacilitatorRequest(v1Payload: Self.v1Payload.canonicalBytes, requirements: try #require(
            JSONObjectReader(Self.v1Requirements).flatMap(X402V1.PaymentRequirements.init)))
        let v1Contents = try #require(v1.contents())
        #expect(v1Contents.x402Version == 1 && v1Contents.paymentRequirements.network == "eip155:84532")
        #expect(v1Contents.paymentPayload.accepted.amount == "2500" && v1Contents.paymentPayload.payload == payload.payload)

        let from = payload.payload.authorization.from
        for body in [v2.body, v1.body] {
            let text = String(decoding: body, as: UTF8.self)
            let twice = text.replacingOccurrences(of: #""from":"\#(from)""#, with: #""from":"\#(from)","from":"0x0000000000000000000000000000000000000001""#)
            #expect(twice != text)
            #expect(X402.FacilitatorRequest(body: Array(twice.utf8)).contents() == nil)
        }
        // Neither version: no contents, whatever else the body holds.
        let v3 = String(decoding: v2.body, as: UTF8.self).replacingOccurrences(of: #"{"x402Version":2"#, with: #"{"x402Version":"2""#)
        #expect(X402.FacilitatorRequest(body: Array(v3.utf8)).contents() == nil)
    }

    /// Every member of `tree` removed, nulled, or given each other JSON type: `read` over the strict parse answers what
    /// `JSONDecoder` answers, and both outcomes occur.
    static func expectSameReading<Message: Decodable & Equatable>(of tree: JSONValue, minimumPaths: Int,
                                                                  sourceLocation: SourceLocation = #_sourceLocation,
                                                                  _ read: (JSONValue) -> Message?) {
        let paths = tree.memberPaths()
        #expect(paths.count > minimumPaths, sourceLocation: sourceLocation)
        var accepted = 0, refused = 0
        for path in paths {
            for replacement in replacements {
                let bytes = tree.setting(path, to: replacement).canonicalBytes
                let byHand = (try? StrictJSON.parse(bytes).get()).flatMap(read)
                let byFoundation = try? JSONDecoder().decode(Message.self, from: Data(bytes))
                #expect(byHand == byFoundation, "\(path.joined(separator: ".")) = \(String(describing: replacement))",
                        sourceLocation: sourceLocation)
                if byFoundation == nil { refused += 1 } else { accepted += 1 }
            }
        }
        // Optional members may go, required ones may not.
        #expect(accepted > 0 && refused > accepted, sourceLocation: sourceLocation)
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
