import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing
import TollgateCore
import TollgateX402

/// The JSON-RPC reads that resolve a settlement the facilitator cannot tell, against a scripted node.
@Suite struct ChainReaderTests {
    static let asset = "0x036cbd53842c5426634e7929541ec2318f3dcf7e"
    static let payer = "0xabc0000000000000000000000000000000000001"
    static let nonce = "0x" + String(repeating: "0a", count: 32)
    static let tx = "0x" + String(repeating: "77", count: 32)

    /// What the node says: the nonce's state, its logs, and code at addresses.
    struct Node: Sendable {
        var used = false
        var logTopic: String?
        var code: [String: String] = [:]
        /// The logs of the spending transaction's receipt.
        var receiptLogs: [JSONValue] = []
    }

    final class Calls: Sendable {
        let methods = Mutex<[String]>([])
    }

    /// A node answering eth_call (authorizationState), eth_getLogs and eth_getCode from `node`; the calls it got.
    static func router(_ node: Node, calls: Calls) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            let call = try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
            let method = call["method"]?.string ?? ""
            calls.methods.withLock { $0.append(method) }
            var result: JSONValue = .null
            switch method {
            case "eth_call":
                let data = call["params"].flatMap { if case .array(let items) = $0 { items.first?["data"]?.string } else { nil } } ?? ""
                // selector authorizationState(address,bytes32), then the padded payer and the nonce.
                #expect(data.hasPrefix("0x" + HexString.encode(EVMChainReaderProbe.selector)))
                #expect(data.hasSuffix(String(nonce.dropFirst(2))))
                result = .string("0x" + String(repeating: "0", count: 63) + (node.used ? "1" : "0"))
            case "eth_getLogs":
                result = .array(node.logTopic.map { [.object(["topics": .array([.string($0)]), "transactionHash": .string(tx)])] } ?? [])
            case "eth_getTransactionReceipt":
                result = .object(["transactionHash": .string(tx), "logs": .array(node.receiptLogs)])
            case "eth_getCode":
                let address = call["params"].flatMap { if case .array(let items) = $0 { items.first?.string } else { nil } } ?? ""
                result = .string(node.code[address.lowercased()] ?? "0x")
            default:
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no such method"}}"#)))
            }
            let answer = JSONValue.object(["jsonrpc": .string("2.0"), "id": .integer(1), "result": result])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: HeaderCodec.json(answer))))
        }
        return router
    }

    func state(_ node: Node, paying: (payee: String, amount: String)? = nil) async throws -> (ChainAuthorization, [String]) {
        let calls = Calls()
        let result = try await Listener.with(Self.router(node, calls: calls)) { port in
            try await EVMChainReader(url: "http://127.0.0.1:\(port)/").authorization(asset: Self.asset, payer: Self.payer, nonce: Self.nonce,
                                                                                       paying: paying, logger: Logger(label: "test"))
        }
        return (result, calls.methods.withLock { $0 })
    }

    @Test func anUnusedNonceIsUnusedAndNeedsNoLogs() async throws {
        let (result, calls) = try await state(Node(used: false))
        #expect(result == .unused)
        #expect(calls == ["eth_call"])
    }

    @Test func aTransferIsFoundWithItsTransaction() async throws {
        let (result, _) = try await state(Node(used: true, logTopic: EVMChainReaderProbe.usedTopic))
        #expect(result == .used(transaction: Self.tx))
    }

    @Test func aCancellationIsTold() async throws {
        let (result, _) = try await state(Node(used: true, logTopic: EVMChainReaderProbe.canceledTopic))
        #expect(result == .cancelled)
    }

    /// A Transfer log of the token, as a receipt holds it.
    static func transfer(to: String, amount: UInt64, asset: String = asset, from: String = payer) -> JSONValue {
        func word(_ address: String) -> String { "0x" + String(repeating: "0", count: 24) + address.dropFirst(2).lowercased() }
        return .object([
            "address": .string(asset),
            "topics": .array([.string(EVMChainReaderProbe.transferTopic), .string(word(from)), .string(word(to))]),
            "data": .string("0x" + String(repeating: "0", count: 48) + String(format: "%016llx", amount)),
        ])
    }

    /// Asked as a payment (payee, amount), a spent nonce is this payment only when its transaction transferred that amount
    /// from the payer to the payee: the payer may have spent the nonce first on another authorization, to itself.
    @Test func aSpentNonceIsThisPaymentOnlyWhenItsTransactionPaidThePayee() async throws {
        let payee = "0x209693bc6afc0c5328ba36faf03c514ef312287c", paying = (payee: payee, amount: "10000")
        let used = Node(used: true, logTopic: EVMChainReaderProbe.usedTopic)
        var paid = used
        paid.receiptLogs = [Self.transfer(to: payee, amount: 10000)]
        let (ours, calls) = try await state(paid, paying: paying)
        #expect(ours == .used(transaction: Self.tx))
        #expect(calls == ["eth_call", "eth_getLogs", "eth_getTransactionReceipt"])
        for logs in [[Self.transfer(to: Self.payer, amount: 1)], [Self.transfer(to: payee, amount: 9999)],
                     [Self.transfer(to: payee, amount: 10000, asset: "0x0000000000000000000000000000000000000bad")],
                     [Self.transfer(to: payee, amount: 10000, from: "0x0000000000000000000000000000000000000777")], []] {
            var elsewhere = used
            elsewhere.receiptLogs = logs
            #expect(try await state(elsewhere, paying: paying).0 == .usedElsewhere(transaction: Self.tx), "\(logs)")
        }
        // Asked without a payment (the paying client: its money moved either way), the nonce spent is enough.
        #expect(try await state(used).0 == .used(transaction: Self.tx))
    }

    @Test func aSpentNonceWithoutLogsIsUsedWithoutEvidence() async throws {
        let (result, _) = try await state(Node(used: true))
        #expect(result == .used(transaction: nil))
    }

    @Test func codeAtAnAddressIsRead() async throws {
        let calls = Calls()
        let node = Node(code: [Self.payer: "0x6080604052"])
        let (wallet, plain) = try await Listener.with(Self.router(node, calls: calls)) { port in
            let reader = EVMChainReader(url: "http://127.0.0.1:\(port)/")
            return (try await reader.hasCode(at: Self.payer, logger: Logger(label: "test")),
                    try await reader.hasCode(at: "0x0000000000000000000000000000000000000009", logger: Logger(label: "test")))
        }
        #expect(wallet)
        #expect(!plain)
    }
}

/// The constants the reader sends, recomputed here independently of it.
enum EVMChainReaderProbe {
    static let selector = Array(Keccak256.hash(Array("authorizationState(address,bytes32)".utf8)).prefix(4))
    static let usedTopic = HexString.prefixed(Keccak256.hash(Array("AuthorizationUsed(address,bytes32)".utf8)))
    static let canceledTopic = HexString.prefixed(Keccak256.hash(Array("AuthorizationCanceled(address,bytes32)".utf8)))
    static let transferTopic = HexString.prefixed(Keccak256.hash(Array("Transfer(address,address,uint256)".utf8)))
}
