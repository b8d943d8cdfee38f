import Foundation
import XCTest
@testable import ReAdapt

/// BM25 against rank_bm25's BM25Okapi (fixture: scripts/fixtures/make_bm25_fixtures.py), plus
/// passages, persistence and errors.
final class BM25Tests: XCTestCase {
    struct Reference {
        var texts: [String], tokens: [[String]], queries: [String], queryTokens: [[String]]
        var runs: [(parameters: BM25Parameters, averageIDF: Double, scores: [[Double]])]
    }

    func loadReference() throws -> Reference {
        let fixtures = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: fixtures.appendingPathComponent("bm25/bm25_reference.json"))
        let json = try JSONValue.parse(data)
        func strings(_ v: JSONValue?) throws -> [String] { try XCTUnwrap(v?.array).map { try XCTUnwrap($0.string) } }
        let passages = try XCTUnwrap(json["passages"]?.array)
        let queries = try XCTUnwrap(json["queries"]?.array)
        var runs: [(BM25Parameters, Double, [[Double]])] = []
        for run in try XCTUnwrap(json["runs"]?.array) {
            let p = BM25Parameters(k1: try XCTUnwrap(run["k1"]?.double), b: try XCTUnwrap(run["b"]?.double),
                                   epsilon: try XCTUnwrap(run["epsilon"]?.double))
            let scores = try XCTUnwrap(run["scores"]?.array).map { try XCTUnwrap($0.array).map { try XCTUnwrap($0.double) } }
            runs.append((p, try XCTUnwrap(run["average_idf"]?.double), scores))
        }
        return Reference(texts: try passages.map { try XCTUnwrap($0["text"]?.string) },
                         tokens: try passages.map { try strings($0["tokens"]) },
                         queries: try queries.map { try XCTUnwrap($0["text"]?.string) },
                         queryTokens: try queries.map { try strings($0["tokens"]) }, runs: runs)
    }

    func assertClose(_ got: Double, _ want: Double, _ message: String) {
        XCTAssertLessThanOrEqual(abs(got - want), 1e-9 * abs(want) + 1e-12, "\(message): \(got) vs rank_bm25 \(want)")
    }

    func testTokenizerMatchesReferenceScript() throws {
        let reference = try loadReference()
        XCTAssertEqual(reference.texts.count, 300)
        for (text, tokens) in zip(reference.texts + reference.queries, reference.tokens + reference.queryTokens) {
            XCTAssertEqual(BM25Tokenizer.tokens(text), tokens, text)
        }
        XCTAssertEqual(BM25Tokenizer.tokens("ΣΟΦΙΑ, Straße; İ 3.14"), ["σοφια", "straße", "i\u{307}", "3", "14"])
    }

    func testScoresMatchRankBM25() throws {
        let reference = try loadReference()
        for run in reference.runs {
            let index = try BM25Index(passages: reference.texts, parameters: run.parameters)
            let fromTokens = try BM25Index(tokenizedPassages: reference.tokens, parameters: run.parameters)
            // "the" is in over half the passages: its negative idf is floored to epsilon × mean idf.
            assertClose(index.idf[Int(index.vocabulary["the"]!)], run.parameters.epsilon * run.averageIDF, "floored idf")
            for (q, query) in reference.queries.enumerated() {
                let scores = index.scores(query: query)
                XCTAssertEqual(scores.count, reference.texts.count)
                XCTAssertEqual(fromTokens.scores(queryTokens: reference.queryTokens[q]), scores)
                for (p, want) in run.scores[q].enumerated() {
                    assertClose(scores[p], want, "k1 \(run.parameters.k1) query \(q) passage \(p)")
                }
            }
        }
    }

    func testTopKOrderMatchesReferenceScores() throws {
        let reference = try loadReference()
        for run in reference.runs {
            let index = try BM25Index(passages: reference.texts, parameters: run.parameters)
            for (q, query) in reference.queries.enumerated() {
                // The documented order applied to rank_bm25's own scores: score descending, then passage.
                let expected = run.scores[q].enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
                for k in [1, 5, 10, 300, 1000] {
                    let hits = index.top(query: query, k: k)
                    XCTAssertEqual(hits.map(\.passage), expected.prefix(k).map(\.offset), "query \(q) k \(k)")
                    for hit in hits { assertClose(hit.score, run.scores[q][hit.passage], "top-k score") }
                }
                XCTAssertEqual(index.top(query: query, k: 0), [])
            }
        }
    }

    func testTiesRankByPassageOrder() throws {
        let index = try BM25Index(passages: ["cat dog", "bird", "dog cat", "cat dog", "fish"])
        XCTAssertEqual(index.top(query: "cat", k: 5).map(\.passage), [0, 2, 3, 1, 4])
    }

    func testPassageSplitting() throws {
        let text = (1...10).map { "w\($0)" }.joined(separator: " \n ")
        XCTAssertEqual(PassageCorpus.split(text, options: PassageOptions(words: 4, overlap: 1)),
                       ["w1 w2 w3 w4", "w4 w5 w6 w7", "w7 w8 w9 w10"])
        XCTAssertEqual(PassageCorpus.split(text, options: PassageOptions(words: 4, overlap: 2)),
                       ["w1 w2 w3 w4", "w3 w4 w5 w6", "w5 w6 w7 w8", "w7 w8 w9 w10"])
        XCTAssertEqual(PassageCorpus.split("one two", options: PassageOptions()), ["one two"])
        XCTAssertEqual(PassageCorpus.split("  \n ", options: PassageOptions()), [])
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bm25-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testPersistedIndexIsReusedAndRebuiltWhenStale() throws {
        let reference = try loadReference()
        let directory = try temporaryDirectory()
        let docs = directory.appendingPathComponent("docs.jsonl")
        var lines = reference.texts.enumerated().map { #"{"id": "d\#($0.offset)", "text": \#(jsonString($0.element))}"# }
        try (lines.joined(separator: "\n") + "\n").write(to: docs, atomically: true, encoding: .utf8)
        let options = PassageOptions(words: 1000, overlap: 0)

        let built = try BM25Retriever.open(documents: docs, passageOptions: options)
        XCTAssertFalse(built.reusedIndex)
        XCTAssertEqual(built.indexURL.lastPathComponent, "docs.jsonl.bm25index")
        XCTAssertTrue(FileManager.default.fileExists(atPath: built.indexURL.path))
        let reused = try BM25Retriever.open(documents: docs, passageOptions: options)
        XCTAssertTrue(reused.reusedIndex)
        for query in reference.queries {
            XCTAssertEqual(reused.index.scores(query: query), built.index.scores(query: query))
            let scores = reused.index.scores(query: query)
            for (p, want) in reference.runs[0].scores[reference.queries.firstIndex(of: query)!].enumerated() { assertClose(scores[p], want, "reloaded") }
        }
        XCTAssertEqual(reused.search("Paris tower", k: 1).first?.passage.documentID, "d\(built.index.top(query: "Paris tower", k: 1)[0].passage)")

        // Other passage options or changed documents invalidate the index.
        XCTAssertFalse(try BM25Retriever.open(documents: docs, passageOptions: PassageOptions(words: 10, overlap: 2)).reusedIndex)
        XCTAssertFalse(try BM25Retriever.open(documents: docs, passageOptions: options).reusedIndex)
        lines[0] = #"{"id": "d0", "text": "zebra zebra"}"#
        try (lines.joined(separator: "\n") + "\n").write(to: docs, atomically: true, encoding: .utf8)
        let changed = try BM25Retriever.open(documents: docs, passageOptions: options)
        XCTAssertFalse(changed.reusedIndex)
        XCTAssertEqual(changed.search("zebra", k: 1).first?.passage.documentID, "d0")

        // A damaged index file is a clear error when read directly, and rebuilt by open.
        let bytes = try Data(contentsOf: changed.indexURL)
        try bytes.prefix(bytes.count - 3).write(to: changed.indexURL)
        XCTAssertThrowsError(try BM25IndexFile.read(from: changed.indexURL)) { error in
            XCTAssertTrue("\(error)".contains("docs.jsonl.bm25index is not a usable BM25 index"), "\(error)")
        }
        XCTAssertFalse(try BM25Retriever.open(documents: docs, passageOptions: options).reusedIndex)
        XCTAssertTrue(try BM25Retriever.open(documents: docs, passageOptions: options).reusedIndex)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testFolderOfTextFiles() throws {
        let directory = try temporaryDirectory()
        try "The Eiffel Tower is in Paris.".write(to: directory.appendingPathComponent("paris.txt"), atomically: true, encoding: .utf8)
        try "# Berlin\nThe wall fell in 1989.".write(to: directory.appendingPathComponent("wall.md"), atomically: true, encoding: .utf8)
        try "Tokyo is the capital of Japan.".write(to: directory.appendingPathComponent("tokyo.txt"), atomically: true, encoding: .utf8)
        try "ignored".write(to: directory.appendingPathComponent("notes.csv"), atomically: true, encoding: .utf8)
        let retriever = try BM25Retriever.open(documents: directory)
        XCTAssertEqual(retriever.corpus.passages.map(\.documentID), ["paris.txt", "tokyo.txt", "wall.md"])
        // wall.md is the last passage, so it wins on score, not on the tie rule.
        XCTAssertEqual(retriever.search("when did the wall fall", k: 1).first?.passage.documentID, "wall.md")
        XCTAssertGreaterThan(retriever.search("when did the wall fall", k: 1)[0].score, 0)
        XCTAssertEqual(retriever.indexURL.lastPathComponent, ".readapt.bm25index")
        XCTAssertTrue(try BM25Retriever.open(documents: directory).reusedIndex)
    }

    func testErrorsNameTheFileAndProblem() throws {
        let directory = try temporaryDirectory()
        func expect(_ jsonl: String, _ fragment: String, line: UInt = #line) throws {
            let url = directory.appendingPathComponent("bad.jsonl")
            try jsonl.write(to: url, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try PassageCorpus.load(from: url), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
                XCTAssertTrue("\(error)".contains("bad.jsonl"), "\(error)", line: line)
            }
        }
        try expect(#"{"id": "a", "text": "x"}"# + "\n{oops\n", "line 2: not valid JSON")
        try expect(#"{"id": "a"}"#, #"line 1: "text" is missing"#)
        try expect(#"{"text": "a"}"#, #"line 1: "id" is missing"#)
        try expect("\n[1]\n", "line 2: expected a JSON object")
        try expect(#"{"id": "a", "text": "x"}"# + "\n" + #"{"id": "a", "text": "y"}"#, #"line 2: the document id "a" was already used"#)
        try expect("\n\n", "holds no documents")
        XCTAssertThrowsError(try PassageCorpus.load(from: directory.appendingPathComponent("nope.jsonl"))) {
            XCTAssertEqual("\($0)", "\(directory.path)/nope.jsonl does not exist.")
        }
        let folder = directory.appendingPathComponent("folder")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data([0x66, 0xff, 0xfe]).write(to: folder.appendingPathComponent("x.txt"))
        XCTAssertThrowsError(try PassageCorpus.load(from: folder)) { XCTAssertTrue("\($0)".contains("x.txt is not valid UTF-8")) }
        XCTAssertThrowsError(try PassageOptions(words: 10, overlap: 10).validate()) { XCTAssertTrue("\($0)".contains("overlap")) }
        XCTAssertThrowsError(try PassageOptions(words: 0).validate())
        XCTAssertThrowsError(try BM25Index(passages: ["a"], parameters: BM25Parameters(b: 1.5))) { XCTAssertTrue("\($0)".contains("b must be")) }
        XCTAssertThrowsError(try BM25Index(passages: [])) { XCTAssertEqual($0 as? BM25Error, .emptyCorpus) }
        let garbage = directory.appendingPathComponent("garbage.bm25index")
        try Data(repeating: 7, count: 100).write(to: garbage)
        XCTAssertThrowsError(try BM25IndexFile.read(from: garbage)) { XCTAssertTrue("\($0)".contains("header")) }
    }

    private func jsonString(_ s: String) -> String {
        var out: [UInt8] = []
        JSONValue.appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
