import Foundation
import MCP
import Testing
import TollgateCore
import TollgateMCP
@testable import TollgateMCPServer
import TollgateX402

/// The conversions between the SDK's values and Tollgate's JSON.
@Suite struct MCPBridgeTests {
    /// A PaymentPayload as a client sends it in `_meta` (a `Value`), over the wire (JSON), then as the gate reads it:
    /// the same JSON, so the proof decodes and its signature still verifies.
    @Test func paymentPayloadSurvivesTheRoundTrip() throws {
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let terms = X402.PaymentRequirements(scheme: "exact", network: "eip155:84532", asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                                             amount: "10000", payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", maxTimeoutSeconds: 60,
                                             extra: ["name": .string("USDC"), "version": .string("2")])
        let payload = try payer.pay(terms, resource: nil, now: 1_800_000_000)
        let sent = try Value(payload)
        let received = try JSONDecoder().decode(Value.self, from: JSONEncoder().encode(sent))
        let json = try MCPBridge.json(received)
        #expect(json == (try JSONValue.encoding(payload)))
        #expect(try JSONDecoder().decode(X402.PaymentPayload.self, from: Data(json.canonicalBytes)) == payload)
        #expect(MCPBridge.value(json) == sent)
    }

    /// A string that reads as a data URL stays the string it was (the SDK's decoder would make it data).
    @Test func dataURLStringsStayStrings() {
        let text = "data:text/plain;base64,aGk="
        #expect(MCPBridge.value(.string(text)) == .string(text))
        #expect(MCPBridge.value(.object(["n": .integer(3), "x": .number(1.5), "list": .array([.null, .bool(true)])]))
            == .object(["n": .int(3), "x": .double(1.5), "list": .array([.null, .bool(true)])]))
    }

    @Test func paymentIsRemovedFromWhatTheToolSees() {
        let params = CallTool.Parameters(name: "forecast", arguments: ["city": "Oslo"],
                                         meta: Metadata(additionalFields: ["x402/payment": .object([:]), "trace": "t1"]))
        let forwarded = MCPBridge.withoutPayment(params)
        #expect(forwarded._meta?["x402/payment"] == nil)
        #expect(forwarded._meta?["trace"] == "t1")
        #expect(forwarded.arguments == params.arguments)
        let onlyPayment = CallTool.Parameters(name: "forecast", meta: Metadata(additionalFields: ["x402/payment": .object([:])]))
        #expect(MCPBridge.withoutPayment(onlyPayment)._meta == nil)
    }

    @Test func errorsKeepTheirCode() {
        #expect(MCPBridge.mcpError(.object(["code": .integer(-32001), "message": .string("no credentials")]))
            == .serverError(code: -32001, message: "no credentials"))
        #expect(MCPBridge.mcpError(.object(["code": .integer(-32602), "message": .string("Invalid params: bad"),
                                            "data": .object(["detail": .string("bad")])])) == .invalidParams("bad"))
        let thrown = MCPError.invalidParams("no such city")
        let message = MCPBridge.message(thrown, id: .integer(7))
        #expect(MCPBridge.mcpError(message.error ?? .null) == thrown)
    }
}
