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

    /// What the node says: its head block's time, the nonce's state, its logs, and code at addresses.
    struct Node: Sendable {
        var used = false
        var logTopic: String?
        /// The log `eth_getLogs` answers, when not the one `logTopic` makes for this token, payer and nonce.
        var logs: [JSONValue]?
        var code: [String: String] = [:]
        /// The logs of the spending transaction's receipt.
        var receiptLogs: [JSONValue] = []
        var blockTime: Int64 = 1_800_000_000
    }

    static func word(_ address: String) -> String { "0x" + String(repeating: "0", count: 24) + address.dropFirst(2).lowercased() }

    /// The token's AuthorizationUsed or AuthorizationCanceled log for a payer and nonce.
    static func authorizationLog(_ topic: String, asset: String = asset, payer: String = payer, nonce: String = nonce) -> JSONValue {
        .object(["address": .string(asset), "topics": .array([.string(topic), .string(word(payer)), .string(nonce)]), "transactionHash": .string(tx)])
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
            case "eth_getBlockByNumber":
                result = .object(["number": .string("0x1b4"), "timestamp": .string("0x" + String(node.blockTime, radix: 16))])
            case "eth_call":
                let params: [JSONValue] = call["params"].flatMap { if case .array(let items) = $0 { items } else { nil } } ?? []
                let data = params.first?["data"]?.string ?? ""
                // Read at the block whose time the answer carries, not at whatever "latest" is a moment later.
                #expect(params.last?.string == "0x1b4")
                // selector authorizationState(address,bytes32), then the padded payer and the nonce.
                #expect(data.hasPrefix("0x" + HexString.encode(EVMChainReaderProbe.selector)))
                #expect(data.hasSuffix(String(nonce.dropFirst(2))))
                result = .string("0x" + String(repeating: "0", count: 63) + (node.used ? "1" : "0"))
            case "eth_getLogs":
                result = .array(node.logs ?? node.logTopic.map { [authorizationLog($0)] } ?? [])
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

    @Test func anUnusedNonceIsUnusedAsOfTheHeadBlocksTimeAndNeedsNoLogs() async throws {
        let (result, calls) = try await state(Node(used: false, blockTime: 1_700_000_123))
        #expect(result == .unused(blockTime: 1_700_000_123))
        #expect(calls == ["eth_getBlockByNumber", "eth_call"])
        // Expired by the chain's own time only: a block before validBefore says it may still be used.
        #expect(result.neverMoves(validBefore: 1_700_000_123) && !result.neverMoves(validBefore: 1_700_000_124))
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
        .object([
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
        let usedLog = Self.authorizationLog(EVMChainReaderProbe.usedTopic)
        var paid = used
        paid.receiptLogs = [usedLog, Self.transfer(to: payee, amount: 10000)]
        let (ours, calls) = try await state(paid, paying: paying)
        #expect(ours == .used(transaction: Self.tx))
        #expect(calls == ["eth_getBlockByNumber", "eth_call", "eth_getLogs", "eth_getTransactionReceipt"])
        let otherNonce = "0x" + String(repeating: "0b", count: 32)
        for logs in [[usedLog, Self.transfer(to: Self.payer, amount: 1)], [usedLog, Self.transfer(to: payee, amount: 9999)],
                     // One transaction spending this nonce on the payer itself and paying the payee with another authorization:
                     // the payee's Transfer follows the other nonce's log, not this one's, so it paid another purchase.
                     [usedLog, Self.transfer(to: Self.payer, amount: 10000), Self.authorizationLog(EVMChainReaderProbe.usedTopic, nonce: otherNonce),
                      Self.transfer(to: payee, amount: 10000)]] {
            var elsewhere = used
            elsewhere.receiptLogs = logs
            #expect(try await state(elsewhere, paying: paying).0 == .usedElsewhere(transaction: Self.tx), "\(logs)")
        }
        // A receipt with no Transfer of the token from the payer right after the log (none, another token's, another
        // sender's, the log last) cannot be read: never "elsewhere", which would have a paid client pay again.
        for logs in [[usedLog], [Self.transfer(to: payee, amount: 10000), usedLog],
                     [usedLog, Self.transfer(to: payee, amount: 10000, asset: "0x0000000000000000000000000000000000000bad")],
                     [usedLog, Self.transfer(to: payee, amount: 10000, from: "0x0000000000000000000000000000000000000777")]] {
            var unreadable = used
            unreadable.receiptLogs = logs
            await #expect(throws: RailFailure.self, "\(logs)") { try await state(unreadable, paying: paying) }
        }
        // Asked without a payment (the paying client: its money moved either way), the nonce spent is enough.
        #expect(try await state(used).0 == .used(transaction: Self.tx))
    }

    /// Asked as a payment, a spent nonce whose log the node does not give (a node that keeps no old logs, or limits
    /// `eth_getLogs`), or gives for another token, payer or nonce (a node whose filter is not trusted), or whose receipt
    /// lacks the log, is not guessed at: the reader throws, and the settlement stays unknown. Asked for the payer, it is used.
    @Test func aSpentNonceWithoutItsLogIsNotTakenForThisPayment() async throws {
        let paying = (payee: "0x209693bc6afc0c5328ba36faf03c514ef312287c", amount: "10000")
        let foreign = [Self.authorizationLog(EVMChainReaderProbe.usedTopic, asset: "0x0000000000000000000000000000000000000bad"),
                       Self.authorizationLog(EVMChainReaderProbe.usedTopic, payer: "0x0000000000000000000000000000000000000777"),
                       Self.authorizationLog(EVMChainReaderProbe.canceledTopic, nonce: "0x" + String(repeating: "0c", count: 32))]
        for logs in [[], foreign] {
            await #expect(throws: RailFailure.self, "\(logs)") { try await state(Node(used: true, logs: logs), paying: paying) }
            #expect(try await state(Node(used: true, logs: logs)).0 == .used(transaction: nil), "\(logs)")
        }
        var noReceiptLog = Node(used: true, logTopic: EVMChainReaderProbe.usedTopic)
        noReceiptLog.receiptLogs = [Self.transfer(to: paying.payee, amount: 10000)]
        await #expect(throws: RailFailure.self) { try await state(noReceiptLog, paying: paying) }
    }

    /// A failure names the node by its origin only: a hosted node's URL carries its API key.
    @Test func aFailureNamesTheNodeWithoutItsKey() async throws {
        let reader = EVMChainReader(url: "http://127.0.0.1:9/v2/SECRET-API-KEY", timeout: .seconds(2))
        do {
            _ = try await reader.authorization(asset: Self.asset, payer: Self.payer, nonce: Self.nonce, logger: Logger(label: "test"))
            Issue.record("a closed port answered")
        } catch {
            #expect(!"\(error)".contains("SECRET"), "\(error)")
            #expect("\(error)".contains("http://127.0.0.1:9"), "\(error)")
        }
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
