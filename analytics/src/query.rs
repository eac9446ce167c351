//! Turning a strategy into a Spark DataFrame and a running streaming query.
//!
//! The SQL lives in [`crate::sql`]; this module adds what is not SQL: the Kafka source and sink
//! options, the session settings a query captures when it starts, the checkpoint, trigger and
//! query name.

use std::collections::HashMap;

use spark_connect::functions::expr;
use spark_connect::streaming::{StreamingQuery, Trigger};
use spark_connect::{DataFrame, SparkSession};

use crate::error::{Error, SparkContext};
use crate::sql::{self, Step};
use crate::strategy::Strategy;

/// Kafka source options of a strategy (typed fields first, then the raw escape hatch, which
/// validation keeps from overriding them).
pub fn source_options(s: &Strategy) -> HashMap<String, String> {
    let mut o: HashMap<String, String> = s.source.options.clone().into_iter().collect();
    o.insert("kafka.bootstrap.servers".into(), s.source.brokers.clone());
    o.insert("subscribe".into(), s.source.topic.clone());
    o.insert("startingOffsets".into(), s.source.starting_offsets.clone());
    o.insert(
        "failOnDataLoss".into(),
        s.source.fail_on_data_loss.to_string(),
    );
    if s.source.max_offsets_per_trigger > 0 {
        o.insert(
            "maxOffsetsPerTrigger".into(),
            s.source.max_offsets_per_trigger.to_string(),
        );
    }
    o
}

/// Kafka sink options of a strategy, checkpoint included.
pub fn sink_options(s: &Strategy) -> HashMap<String, String> {
    let mut o: HashMap<String, String> = s.sink.options.clone().into_iter().collect();
    o.insert(
        "kafka.bootstrap.servers".into(),
        s.sink_brokers().to_string(),
    );
    o.insert("topic".into(), s.sink.topic.clone());
    o.insert("checkpointLocation".into(), s.checkpoint_location());
    o
}

/// Applies one step to a DataFrame.
fn apply(df: DataFrame, step: &Step) -> DataFrame {
    let exprs = |v: &[String]| v.iter().map(|e| expr(e).expression().clone()).collect();
    match step {
        Step::Select(v) => df.select_expr(v.iter().map(String::as_str).collect()),
        Step::Filter(e) => df.filter(expr(e)),
        Step::Observe { name, exprs: v } => df.observe(name, exprs(v)),
        Step::Watermark { column, delay } => df.with_watermark(column, delay),
        Step::Aggregate { keys, aggs } => df
            .group_by(keys.iter().map(|k| expr(k)).collect::<Vec<_>>())
            .agg(exprs(aggs)),
    }
}

/// The streaming DataFrame of a strategy: Kafka source through the signal JSON.
pub fn dataframe(spark: &SparkSession, s: &Strategy) -> DataFrame {
    let source = spark
        .read_stream()
        .format("kafka")
        .options(source_options(s))
        .load(None);
    steps_on(source, sql::Entry::Json, sql::Run::Stream, s)
}

/// The strategy's steps on `source`, a DataFrame holding trades as `entry` says: the live
/// query's (Kafka), a backtest's (a batch DataFrame of history, where Spark ignores the
/// watermark, so a bar holds every trade of its interval) and the warm-up's.
pub fn steps_on(source: DataFrame, entry: sql::Entry, run: sql::Run, s: &Strategy) -> DataFrame {
    sql::steps_from(s, entry, run)
        .iter()
        .fold(source, |df, d| apply(df, &d.step))
}

/// Sets the session settings a query of `s` runs with (see [`start`]); for a batch job of
/// the same strategy.
pub fn configure(spark: &SparkSession, s: &Strategy) -> Result<(), Error> {
    configure_session(spark, s)
}

/// Session settings the query captures at start: UTC (bar boundaries, signal ids) and the
/// strategy's shuffle partitions, or the server's setting when it has none.
fn configure_session(spark: &SparkSession, s: &Strategy) -> Result<(), Error> {
    set_conf(spark, "spark.sql.session.timeZone", Some("UTC"))?;
    let partitions =
        (s.query.shuffle_partitions > 0).then(|| s.query.shuffle_partitions.to_string());
    set_conf(spark, "spark.sql.shuffle.partitions", partitions.as_deref())
}

/// Sets (or, with `None`, resets) a session setting of the session the plans run in.
///
/// Through SQL `SET`/`RESET`, the plans' own request path, rather than the client's `conf()`:
/// apache-spark-connect 4.2 sends plans with an empty user id and config requests with the
/// connection's, so a `conf().set` reaches the plans' session only while the connection names
/// no user (see `connect`). Measured with a user id: `spark.sql.adaptive.enabled` set to
/// `false` through `conf().set` left AQE on, through `SET` it turned it off.
pub(crate) fn set_conf(spark: &SparkSession, key: &str, value: Option<&str>) -> Result<(), Error> {
    let statement = match value {
        Some(v) => format!("SET {key}={v}"),
        None => format!("RESET {key}"),
    };
    let during = || format!("{statement} on the Spark session");
    spark
        .sql(&statement)
        .during(during)?
        .collect()
        .during(during)?;
    Ok(())
}

/// Starts the strategy's query (resuming from its checkpoint when there is one).
pub fn start(spark: &SparkSession, s: &Strategy) -> Result<StreamingQuery, Error> {
    configure_session(spark, s)?;
    dataframe(spark, s)
        .write_stream()
        .format("kafka")
        .options(sink_options(s))
        .output_mode("append")
        .query_name(s.query_name())
        .trigger(Trigger::ProcessingTime(format!(
            "{} milliseconds",
            s.query.trigger_interval_ms
        )))
        .start("")
        .during(|| format!("start query {}", s.query_name()))
}

/// Has Spark analyze the strategy's plan (names, types, functions) without starting anything;
/// an [`Error`] says what it refused.
pub fn analyze(spark: &SparkSession, s: &Strategy) -> Result<(), Error> {
    configure_session(spark, s)?;
    dataframe(spark, s)
        .schema()
        .during(|| format!("analyze the plan of {}", s.query_name()))?;
    Ok(())
}

/// The plan Spark will run for the strategy: the SQL steps, then Spark's parsed and analyzed
/// plans of the streaming DataFrame. Spark optimizes and plans a streaming query physically
/// only when it starts; when `running` (the strategy's active query) is given, its physical
/// plan is appended.
pub fn explain(
    spark: &SparkSession,
    s: &Strategy,
    running: Option<&StreamingQuery>,
) -> Result<String, Error> {
    configure_session(spark, s)?;
    let view = format!("explain_{}", s.query_name().replace('-', "_"));
    dataframe(spark, s)
        .create_or_replace_temp_view(&view)
        .during(|| "register the query as a temporary view".into())?;
    let rows = spark
        .sql(&format!("EXPLAIN EXTENDED SELECT * FROM {view}"))
        .during(|| "explain the query".into())?
        .collect()
        .during(|| "explain the query".into())?;
    let _ = spark.sql(&format!("DROP VIEW IF EXISTS {view}"));
    let text: String = rows
        .iter()
        .filter_map(|r| match r.get(0) {
            Some(spark_connect::row::Value::String(s)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    // The optimizer refuses a streaming plan outside writeStream.start(): keep what precedes.
    let logical = text
        .split("== Optimized Logical Plan ==")
        .next()
        .unwrap_or_default()
        .trim_end();
    let mut out = format!(
        "== Steps (Spark SQL) ==\n{}\n{logical}\n",
        sql::describe(&sql::steps(s))
    );
    match running {
        Some(q) => {
            let physical = q
                .explain(true)
                .during(|| format!("explain running query {}", s.query_name()))?;
            out.push_str(&format!(
                "\n== Running query `{}` (optimized and physical plans) ==\n{physical}\n",
                s.query_name()
            ));
        }
        None => out.push_str(&format!(
            "\n(query `{}` is not running: Spark plans a streaming query physically only when it \
             starts; submit it and run explain again to see that plan)\n",
            s.query_name()
        )),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_typed_fields_and_the_escape_hatch() {
        let mut s = Strategy::default();
        s.source
            .options
            .insert("kafka.security.protocol".into(), "SSL".into());
        s.sink.brokers = "k2:9092".into();
        let src = source_options(&s);
        assert_eq!(src["subscribe"], "market.trades");
        assert_eq!(src["maxOffsetsPerTrigger"], "200000");
        assert_eq!(src["failOnDataLoss"], "true");
        assert_eq!(src["kafka.security.protocol"], "SSL");
        let sink = sink_options(&s);
        assert_eq!(sink["kafka.bootstrap.servers"], "k2:9092");
        assert_eq!(sink["topic"], "signals");
        s.source.max_offsets_per_trigger = 0;
        assert!(!source_options(&s).contains_key("maxOffsetsPerTrigger"));
    }
}
