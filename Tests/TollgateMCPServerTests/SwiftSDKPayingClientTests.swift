import AsyncHTTPClient
import Foundation
import MCP
import Testing
import TollgateClient
@testable import TollgateClientMCP
import TollgateCore
import TollgateMCP
import TollgateX402

/// An agent built on the swift-sdk paying tools with `TollgateClient`: a swift-sdk `Client` calls a server whose
/// tools `PaidTools` prices, through the real gateway and the development facilitator.
@Suite struct SwiftSDKPayingClientTests {
    static let server = "http://in-process.test/mcp"

    static func wallet(_ budget: Budget = .standard) throws -> (PaymentClient, ExactEVMPayer) {
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-agent-\(UUID().uuidString)/wallet.sqlite").path
        var client = PaymentClient(http: .shared, payer: payer, ledger: try PaymentLedger(path: path), budget: budget, logger: InProcessStack.quiet)
        client.attempts = 2
        return (client, payer)
    }

    @Test func aSwiftSDKAgentPaysOnceWithinItsBudget() async throws {
        try await InProcessStack.with { stack in
            let (wallet, payer) = try Self.wallet()
            let before = try await stack.balance(payer.address.checksummed)
            let (result, outcome) = try await wallet.callTool(stack.client, server: Self.server, tool: "forecast", arguments: ["city": "Oslo"])
            #expect(result.isError != true)
            let purchase = try #require(outcome.purchase)
            #expect(purchase.state == .delivered)
            #expect(purchase.tool == "forecast")
            #expect(purchase.amount == "10000")
            #expect(purchase.transaction?.hasPrefix("0x") == true)
            #expect(outcome.receipt?.success == true)
            #expect(await stack.tools.runs("forecast") == 1)
            #expect(try await stack.balance(payer.address.checksummed) == before - InProcessStack.price)
            // A free tool costs nothing and records nothing.
            let (echo, free) = try await wallet.callTool(stack.client, server: Self.server, tool: "echo", arguments: ["city": "Oslo"])
            #expect(echo.isError != true)
            #expect(free.purchase == nil)
            #expect(try wallet.ledger.purchases().count == 1)
        }
    }

    @Test func aToolLimitRefusesBeforeAnythingIsSigned() async throws {
        try await InProcessStack.with { stack in
            var budget = Budget.standard
            budget.tools["forecast"] = .init(perPayment: MicroUnits(1_000))
            let (wallet, payer) = try Self.wallet(budget)
            let before = try await stack.balance(payer.address.checksummed)
            do {
                _ = try await wallet.callTool(stack.client, server: Self.server, tool: "forecast", arguments: ["city": "Oslo"])
                Issue.record("a call above the tool's limit was paid")
            } catch let error as ClientError {
                #expect(error.code == .budgetExceeded)
                #expect(error.message.contains("tool forecast"))
            }
            #expect(try wallet.ledger.purchases().isEmpty)
            #expect(await stack.tools.runs("forecast") == 0)
            #expect(try await stack.balance(payer.address.checksummed) == before)
        }
    }

    /// The answer to the paid call is lost after the tool ran: the client sends the same authorization again, never a
    /// new one, and gets the result kept for it: paid once, delivered, the tool run once.
    @Test func aLostAnswerIsNeverPaidTwice() async throws {
        try await InProcessStack.with { stack in
            let (wallet, payer) = try Self.wallet()
            let before = try await stack.balance(payer.address.checksummed)
            let sent = Sent()
            let client = stack.client
            let outcome = try await wallet.callTool(server: Self.server, tool: "forecast", arguments: .object(["city": .string("Oslo")])) { payment in
                let meta = try payment.map { Metadata(additionalFields: [ToolCall.paymentKey: try JSONDecoder().decode(Value.self, from: Data($0.canonicalBytes))]) }
                let result = try await client.callTool(name: "forecast", arguments: ["city": "Oslo"], meta: meta).value
                if let payment, await sent.record(payment) == 1 { throw URLError(.networkConnectionLost) }
                return JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "result": try JSONValue.encoding(result)]))
            }
            #expect(await sent.payments.count == 2)
            #expect(Set(await sent.payments).count == 1)
            // The same payment sent again gets the kept result: delivered, paid once, the tool run once.
            #expect(outcome.purchase?.state == .delivered)
            #expect(outcome.purchase?.attempts == 2)
            #expect(await stack.tools.runs("forecast") == 1)
            #expect(try await stack.balance(payer.address.checksummed) == before - InProcessStack.price)
            #expect(try wallet.ledger.spent(.overall, seconds: 3600, nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) == MicroUnits(10_000))
        }
    }

    /// What a swift-sdk error to a paid call counts as: HTTP 5xx, 429 and 408 (reported by the HTTP transport as internal
    /// errors) and a closed connection are no answer, so the same proof is sent again; a JSON-RPC error of the server is
    /// an answer, with its code and message.
    @Test func aTransportFailureIsNoAnswerAndAServerErrorIsOne() throws {
        for failure in [MCPError.internalError("Server error: 503"), .internalError("Too many requests"), .connectionClosed,
                        .transportError(URLError(.timedOut))] {
            #expect(try PaymentClient.answer(failure) == nil, "\(failure)")
        }
        let refused = try #require(try PaymentClient.answer(.serverError(code: 402, message: "Payment required")))
        #expect(refused.error?["code"]?.int == 402)
        #expect(try PaymentClient.answer(.invalidParams("no city"))?.error?["code"]?.int == -32602)
        // The server's own -32603 is an answer, not a transport failure: not sent again.
        #expect(try PaymentClient.answer(.internalError("the forecast backend failed"))?.error?["code"]?.int == -32603)
    }

    actor Sent {
        var payments: [JSONValue] = []
        func record(_ payment: JSONValue) -> Int {
            payments.append(payment)
            return payments.count
        }
    }
}
