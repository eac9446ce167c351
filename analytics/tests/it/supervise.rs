//! `analytics supervise` (the library's [`analytics::supervise::run`], on a thread of its own
//! as the binary runs it) against the real stack: a query stopped from another process is
//! resubmitted from its checkpoint within seconds and counted; a strategy whose plan Spark
//! rejects is given up on, with Spark's error, while the good one next to it keeps running;
//! with nothing left to supervise the supervisor ends.

use std::thread::JoinHandle;
use std::time::Duration;

use analytics::control;
use analytics::supervise::{self, AtExit, Ending, Report, SuperviseSettings};
use analytics::Strategy;
use service::metrics::Registry;
use service::shutdown::{self, ShutdownTrigger};

use crate::support;

fn settings() -> SuperviseSettings {
    SuperviseSettings {
        connection: support::connection(),
        poll_interval: Duration::from_millis(500),
        drain_timeout: Duration::from_secs(5),
        ..SuperviseSettings::default()
    }
}

/// A supervisor on its own thread with its own shutdown; stopped (as by Ctrl-C) when dropped.
struct Supervisor {
    registry: Registry,
    trigger: ShutdownTrigger,
    thread: Option<JoinHandle<Result<Report, analytics::Error>>>,
}

impl Supervisor {
    fn start(strategies: Vec<Strategy>) -> Supervisor {
        let registry = Registry::new("analytics");
        let (trigger, shutdown) = shutdown::channel();
        let r = registry.clone();
        let thread =
            std::thread::spawn(move || supervise::run(&settings(), strategies, &r, shutdown));
        Supervisor {
            registry,
            trigger,
            thread: Some(thread),
        }
    }

    fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Ctrl-C: stops supervising (and, by default, the queries); returns the report.
    fn stop(mut self) -> Report {
        self.trigger.fire();
        let thread = self.thread.take().expect("not stopped yet");
        thread
            .join()
            .expect("supervisor thread")
            .expect("supervise")
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.trigger.fire();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_query_stopped_elsewhere_is_resubmitted_from_its_checkpoint() {
    let _serial = support::serial();
    let (trades, signals) = support::topics("supervise");
    let strategy = support::strategy(&trades, &signals);
    let name = strategy.query_name().to_string();
    let spark = support::spark();
    let _guard = support::Running {
        spark: support::spark(),
        name: name.clone(),
    };

    let sup = Supervisor::start(vec![strategy]);
    let first = support::wait_until(Duration::from_secs(60), || {
        control::find(&spark, &name).ok().flatten()
    })
    .unwrap_or_else(|| {
        panic!(
            "the supervisor did not start {name}: {}",
            sup.registry.render()
        )
    });
    assert_eq!(sup.registry.value("resubmits_total"), 0.0);

    // Another process stops it, as a Connect server restart or an operator would.
    let (code, out) = crate::cli::cli(&["stop", &name]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("stopped `{name}`")), "{out}");

    // The supervisor's own view first: its resubmit counted and the query running again.
    support::wait_until(Duration::from_secs(30), || {
        let r = &sup.registry;
        (r.value("resubmits_total") >= 1.0 && r.value("queries_running") == 1.0).then_some(())
    })
    .unwrap_or_else(|| panic!("{name} was not resubmitted: {}", sup.registry.render()));
    let second = control::find(&spark, &name)
        .unwrap()
        .expect("the resubmitted query is active");
    assert_ne!(second.run_id(), first.run_id(), "a new run");
    assert_eq!(second.id(), first.id(), "resumed from its checkpoint");
    assert_eq!(sup.registry.value("resubmits_total"), 1.0);
    assert_eq!(sup.registry.value("resubmit_failures_total"), 0.0);
    assert_eq!(sup.registry.value("given_up"), 0.0);
    assert_eq!(sup.registry.value("queries_running"), 1.0);

    // Ctrl-C stops supervising and the supervised queries.
    let report = sup.stop();
    assert_eq!(report.ending, Ending::Shutdown);
    assert!(report.given_up.is_empty(), "{report:?}");
    assert!(
        matches!(&report.at_exit[..], [AtExit::Stopped(q)] if q.name == name),
        "{report:?}"
    );
    assert!(control::find(&spark, &name).unwrap().is_none());
}

#[test]
fn a_plan_spark_rejects_is_given_up_while_a_good_one_keeps_running() {
    let _serial = support::serial();
    let (trades, signals) = support::topics("supervise-good");
    let good = support::strategy(&trades, &signals);
    let mut bad = support::strategy(&trades, &signals);
    bad.name = format!("{}-bad", good.name);
    bad.query.checkpoint_location = format!("{}-bad", good.query.checkpoint_location);
    // Spark's analyzer refuses a zero-length window: an invalid plan no retry can fix.
    bad.bars.interval_s = 0;
    let (good_name, bad_name) = (good.query_name().to_string(), bad.query_name().to_string());
    let spark = support::spark();
    let _guard = support::Running {
        spark: support::spark(),
        name: good_name.clone(),
    };

    let sup = Supervisor::start(vec![good, bad.clone()]);
    support::wait_until(Duration::from_secs(60), || {
        (sup.registry.value("given_up") == 1.0).then_some(())
    })
    .unwrap_or_else(|| panic!("{bad_name} was not given up: {}", sup.registry.render()));
    support::wait_until(Duration::from_secs(60), || {
        control::find(&spark, &good_name).ok().flatten()
    })
    .unwrap_or_else(|| panic!("{good_name} is not running: {}", sup.registry.render()));
    assert!(sup.is_running(), "still supervising the good one");
    let metrics = sup.registry.render();
    assert!(
        metrics.contains(&format!("analytics_given_up{{query=\"{bad_name}\"}} 1\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("analytics_given_up{{query=\"{good_name}\"}} 0\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "analytics_resubmit_failures_total{{query=\"{bad_name}\"}} 1\n"
        )),
        "given up at the first attempt, not retried: {metrics}"
    );

    let report = sup.stop();
    assert_eq!(report.ending, Ending::Shutdown);
    assert_eq!(report.given_up.len(), 1, "{report:?}");
    let given_up = &report.given_up[0];
    assert_eq!(given_up.name, bad_name);
    assert!(
        given_up.error.contains("DATATYPE_MISMATCH") && given_up.error.contains("window"),
        "Spark's reason: {}",
        given_up.error
    );

    // Alone, it leaves nothing to supervise: the supervisor ends by itself.
    let (_trigger, never) = shutdown::channel();
    let registry = Registry::new("analytics");
    let report = supervise::run(&settings(), vec![bad], &registry, never).expect("supervise");
    assert_eq!(report.ending, Ending::AllGivenUp);
    assert_eq!(registry.value("given_up"), 1.0);
}
