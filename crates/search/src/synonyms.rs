//! A small curated table of equivalent expressions, across Chinese and English.
//!
//! Why a table and not only n-grams: jieba cuts 锂电池 as one word and 锂离子电池 as 锂离子 + 电池, and
//! the two share only the bigram 电池 — which every fuel-cell and solar-cell listing also has. The
//! table makes "锂电池" reach 锂离子电池 listings (and English "lithium-ion battery" ones) with a
//! proper phrase match. Both backends use the same table (Meilisearch gets it as its `synonyms`
//! setting), so it is kept to well-established technology terms, each group one concept.

/// Groups of expressions that mean the same thing. Every expression of a group expands to all
/// others.
pub const SYNONYM_GROUPS: &[&[&str]] = &[
    &["锂电池", "锂离子电池", "lithium battery", "lithium-ion battery", "li-ion battery"],
    &["人工智能", "artificial intelligence"],
    &["机器学习", "machine learning"],
    &["深度学习", "deep learning"],
    &["神经网络", "neural network"],
    &["新能源汽车", "电动汽车", "electric vehicle"],
    &["燃料电池", "fuel cell"],
    &["太阳能电池", "光伏电池", "solar cell", "photovoltaic cell"],
    &["无人机", "drone", "unmanned aerial vehicle"],
    &["物联网", "internet of things"],
    &["区块链", "blockchain"],
    &["大数据", "big data"],
    &["云计算", "cloud computing"],
    &["自动驾驶", "无人驾驶", "autonomous driving", "self-driving"],
    &["石墨烯", "graphene"],
    &["碳纤维", "carbon fiber", "carbon fibre"],
    &["增材制造", "3D打印", "additive manufacturing", "3d printing"],
    &["半导体", "semiconductor"],
    &["集成电路", "integrated circuit"],
    &["传感器", "sensor"],
    &["储能", "energy storage"],
    &["基因编辑", "gene editing"],
    &["污水处理", "废水处理", "wastewater treatment"],
    &["纳米材料", "nanomaterial"],
];
