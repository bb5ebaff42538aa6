//! `berth logs NAME`: a service's or a task's container output, read from CloudWatch Logs the
//! way `docker compose logs` and `kubectl logs` show it.
//!
//! NAME becomes tasks ([`name`]): a task, or a service's running and recently stopped tasks,
//! listed again every few seconds while following, so the tasks of a new deployment join and
//! stopped ones leave once drained. Their task definitions say which log streams hold each
//! container's output ([`streams`]); those are searched with FilterLogEvents a group and a
//! hundred streams at a time, the answers merged by timestamp ([`merge`]) and printed
//! ([`print`]). A follow searches every second: a stream it has not read yet from `--since`
//! (or its beginning), the others from a little before the newest event seen, showing each
//! event once.
//!
//! Containers that log without `awslogs` are read from their machines through their agents
//! ([`kept`]), a page each, merged with the searches by timestamp.
//!
//! Everything here but the calls and the printing is in those modules, without I/O.

mod kept;
mod merge;
mod name;
mod print;
mod since;
mod streams;

use crate::aws_config::Settings;
use anyhow::{anyhow, Result};
use berth_client::aws::{self, CallError, Connection, BERTH, ECS, LOGS};
use berth_client::endpoint::ConnectError;
use berth_model::arn::resource_id;
use berth_model::resources::{Task, TaskDefinition};
use kept::{Kept, Positions};
use merge::{Found, Merge, Next, Seen};
use name::Lookup;
use print::{Line, Output, Printer};
use serde_json::{json, Value};
use since::Since;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;
use streams::Stream;

/// How often a follow searches for new events.
const POLL: Duration = Duration::from_secs(1);
/// How often a follow lists a service's tasks again (and describes a task again, for the
/// runtime ids its streams may be named after and to see it stop).
const RELIST: Duration = Duration::from_secs(5);
/// How long one call may take before it counts as a lost server.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// DescribeTasks takes at most this many tasks.
const TASKS_PER_DESCRIBE: usize = 100;

#[derive(clap::Args)]
pub struct Args {
    /// A service (name or ARN), or a task (id, ARN, or the start of an id as `berth logs`
    /// prints it).
    name: String,
    /// The cluster NAME is in (an ARN names its own); by default the `default` cluster.
    #[arg(long)]
    cluster: Option<String>,
    /// Only this container's output.
    #[arg(long)]
    container: Option<String>,
    /// Keep printing lines as they arrive, until Ctrl-C; a service's new tasks join as they
    /// start. Following a task ends once it has stopped and its last lines are in.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only lines written since this long ago (30s, 10m, 2h, 1d, 1h30m) or this time (RFC 3339,
    /// 2024-05-01T10:00:00Z). Default: all the tasks logged; a service's tasks include those
    /// stopped in the last hour.
    #[arg(long, value_parser = Since::parse)]
    since: Option<Since>,
    /// Only lines that match this CloudWatch Logs filter pattern: terms, "quoted phrases",
    /// -exclusions, ?alternatives, or a JSON selector such as '{ $.level = "error" }'.
    #[arg(long, allow_hyphen_values = true)]
    filter: Option<String>,
    /// text: `<task>/<container> | <line>`, colored by task on a terminal (not with NO_COLOR);
    /// json: one object per line with timestamp, task, container, group, stream and message.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// The server's URL; by default AWS_ENDPOINT_URL, as `berth server`'s export line sets it.
    #[arg(long)]
    endpoint: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let settings = Settings::from_environment(args.endpoint.as_deref())?;
    let server = Arc::new(settings.server()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ended = runtime.block_on(async {
        let calls = Calls {
            connection: None,
            server,
            key_source: settings.key_source,
        };
        tokio::select! {
            ended = show(args, calls) => ended,
            () = crate::shutdown_signal() => Ok(()),
        }
    });
    match ended {
        // Whoever reads the output (`head`, a closed pager) has seen enough.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        ended => ended,
    }
}

async fn show(args: Args, mut calls: Calls) -> Result<()> {
    let lookups = name::lookups(&args.name, args.cluster.as_deref()).map_err(|e| anyhow!(e))?;
    let subject = find(&mut calls, &args.name, &lookups).await?;
    let now_millis = (berth_time::now() * 1000.0) as i64;
    let color = print::use_color(
        std::io::stdout().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
    );
    let start = args.since.map(|since| since.start(now_millis).max(0));
    let mut logs = Logs {
        calls,
        cluster: lookups.cluster,
        subject,
        container: args.container,
        filter: args.filter,
        start,
        tasks: BTreeMap::new(),
        definitions: HashMap::new(),
        read: HashSet::new(),
        positions: Positions::default(),
        seen: Seen::since(start),
        printer: Printer::new(args.output, color),
        told: HashSet::new(),
        out: std::io::BufWriter::new(std::io::stdout()),
    };
    logs.list_tasks().await.map_err(Failed::into_error)?;
    if let Some(container) = &logs.container {
        let definitions = logs
            .tasks
            .values()
            .filter_map(|task| logs.definitions.get(&task.task_definition_arn));
        streams::check_container(container, definitions).map_err(|e| anyhow!(e))?;
    }
    // The whole history of every task listed, stopped ones too.
    let all: Vec<Task> = logs.tasks.values().cloned().collect();
    logs.read(&all).await.map_err(Failed::into_error)?;
    if args.follow {
        logs.follow().await?;
    }
    Ok(())
}

/// What NAME turned out to name.
enum Subject {
    Task(String),
    Service(String),
}

/// Tries `lookups` in order; the first that finds something wins.
async fn find(calls: &mut Calls, name: &str, lookups: &name::Lookups) -> Result<Subject> {
    let cluster = &lookups.cluster;
    for lookup in &lookups.tries {
        match lookup {
            Lookup::Task(id) => {
                let described = calls
                    .ecs("DescribeTasks", json!({"cluster": cluster, "tasks": [id]}))
                    .await
                    .map_err(Failed::into_error)?;
                if let Some(arn) = described["tasks"][0]["taskArn"].as_str() {
                    return Ok(Subject::Task(arn.to_owned()));
                }
            }
            Lookup::Service(service) => {
                let described = calls
                    .ecs(
                        "DescribeServices",
                        json!({"cluster": cluster, "services": [service]}),
                    )
                    .await
                    .map_err(Failed::into_error)?;
                if let Some(found) = described["services"][0]["serviceName"].as_str() {
                    return Ok(Subject::Service(found.to_owned()));
                }
            }
            Lookup::TaskIdPrefix(prefix) => {
                let mut arns = Vec::new();
                for desired in ["RUNNING", "STOPPED"] {
                    let body = json!({"cluster": cluster, "desiredStatus": desired});
                    arns.extend(calls.list_tasks(body).await.map_err(Failed::into_error)?);
                }
                let matching: Vec<String> = arns
                    .into_iter()
                    .filter(|arn| resource_id(arn).starts_with(prefix.as_str()))
                    .collect();
                match matching.as_slice() {
                    [] => {}
                    [arn] => return Ok(Subject::Task(arn.clone())),
                    several => {
                        let ids: Vec<String> =
                            several.iter().map(|a| resource_id(a).to_owned()).collect();
                        return Err(anyhow!(name::ambiguous(prefix, &ids)));
                    }
                }
            }
        }
    }
    Err(anyhow!(name::not_found(name, lookups)))
}

/// One `berth logs`: what it shows, what it found, and what it has shown.
struct Logs {
    calls: Calls,
    cluster: String,
    subject: Subject,
    container: Option<String>,
    filter: Option<String>,
    /// `--since` in milliseconds; `None` is the beginning.
    start: Option<i64>,
    /// The tasks shown, by ARN.
    tasks: BTreeMap<String, Task>,
    /// Their definitions, by ARN (a revision never changes).
    definitions: HashMap<String, TaskDefinition>,
    /// The streams read from `start` already; later searches of them start at
    /// [`Seen::search_start`].
    read: HashSet<Stream>,
    /// Where each container its machine keeps the output of has been read to.
    positions: Positions,
    seen: Seen,
    printer: Printer,
    /// The notes already said, said once.
    told: HashSet<String>,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Logs {
    async fn follow(&mut self) -> Result<()> {
        let mut listed = tokio::time::Instant::now();
        // The message of a failure the follow is riding out, once said.
        let mut failing: Option<String> = None;
        loop {
            tokio::time::sleep(POLL).await;
            let relist = listed.elapsed() >= RELIST;
            let round = async {
                if relist {
                    self.list_tasks().await?;
                }
                let now = berth_time::now();
                let followed: Vec<Task> = self
                    .tasks
                    .values()
                    .filter(|task| streams::followed(task, now))
                    .cloned()
                    .collect();
                self.read(&followed).await?;
                Ok::<_, Failed>(followed.is_empty())
            };
            match round.await {
                Ok(nothing_followed) => {
                    if relist {
                        listed = tokio::time::Instant::now();
                    }
                    if failing.take().is_some() {
                        eprintln!("berth logs: the server answers again");
                    }
                    if let (Subject::Task(arn), true) = (&self.subject, nothing_followed) {
                        let reason = self
                            .tasks
                            .get(arn)
                            .and_then(|task| task.stopped_reason.as_deref())
                            .unwrap_or("no reason given");
                        eprintln!("berth logs: task {} stopped: {reason}", resource_id(arn));
                        return Ok(());
                    }
                }
                Err(Failed::Transient(message)) => {
                    if failing.as_deref() != Some(message.as_str()) {
                        eprintln!("berth logs: {message}; trying again every second");
                        failing = Some(message);
                    }
                }
                Err(Failed::Fatal(error)) => return Err(error),
            }
        }
    }

    /// Lists the subject's tasks again, with the definitions of any new ones.
    async fn list_tasks(&mut self) -> Result<(), Failed> {
        let arns = match &self.subject {
            Subject::Task(arn) => vec![arn.clone()],
            Subject::Service(service) => {
                let mut arns = Vec::new();
                for desired in ["RUNNING", "STOPPED"] {
                    let body = json!({
                        "cluster": self.cluster,
                        "serviceName": service,
                        "desiredStatus": desired,
                    });
                    arns.extend(self.calls.list_tasks(body).await?);
                }
                arns
            }
        };
        let mut tasks = BTreeMap::new();
        for chunk in arns.chunks(TASKS_PER_DESCRIBE) {
            let described = self
                .calls
                .ecs(
                    "DescribeTasks",
                    json!({"cluster": self.cluster, "tasks": chunk}),
                )
                .await?;
            for task in described["tasks"].as_array().into_iter().flatten() {
                let task: Task = decode("DescribeTasks", task.clone())?;
                tasks.insert(task.task_arn.clone(), task);
            }
        }
        for task in tasks.values() {
            let arn = &task.task_definition_arn;
            if !self.definitions.contains_key(arn) {
                let described = self
                    .calls
                    .ecs("DescribeTaskDefinition", json!({"taskDefinition": arn}))
                    .await?;
                let definition = decode(
                    "DescribeTaskDefinition",
                    described["taskDefinition"].clone(),
                )?;
                self.definitions.insert(arn.clone(), definition);
            }
        }
        // A task past its hour as STOPPED is no longer described; it has nothing more to say.
        if !tasks.is_empty() || matches!(self.subject, Subject::Service(_)) {
            self.tasks = tasks;
        }
        Ok(())
    }

    /// Prints what `tasks` logged that was not shown yet: a stream not read before from the
    /// start, the others from [`Seen::search_start`]; a container its machine keeps the
    /// output of, from just after its last line shown.
    async fn read(&mut self, tasks: &[Task]) -> Result<(), Failed> {
        let found = streams::of_tasks(tasks, &self.definitions, self.container.as_deref());
        for note in found.notes {
            self.tell(note);
        }
        for stream in &found.streams {
            self.printer.make_room(&stream.task_id, &stream.container);
        }
        for kept in &found.kept {
            self.printer.make_room(&kept.task_id, &kept.container);
        }
        let (known, new): (Vec<&Stream>, Vec<&Stream>) = found
            .streams
            .iter()
            .partition(|stream| self.read.contains(*stream));
        let again_from = self.seen.search_start();
        let searches: Vec<(streams::Search, Option<i64>)> = streams::searches(new)
            .into_iter()
            .map(|search| (search, self.start))
            .chain(
                streams::searches(known)
                    .into_iter()
                    .map(|search| (search, again_from)),
            )
            .collect();
        let by_name: HashMap<(&str, &str), &Stream> = found
            .streams
            .iter()
            .map(|s| ((s.group.as_str(), s.name.as_str()), s))
            .collect();
        // Feeds after the searches' are the kept containers', in this order.
        let kept: Vec<Kept> = found
            .kept
            .into_iter()
            .filter(|kept| self.positions.readable(kept))
            .collect();
        let mut merge = Merge::new(searches.len() + kept.len());
        // Every kept container's first page at once: each waits on its agent.
        self.fetch_kept(&kept, &mut merge, searches.len()).await?;
        let mut tokens: Vec<Option<String>> = vec![None; searches.len()];
        loop {
            match merge.next() {
                Next::Fetch(index) => {
                    // Whatever is printed is shown before waiting on the network.
                    self.out.flush().map_err(Failed::output)?;
                    if let Some(offset) = index.checked_sub(searches.len()) {
                        self.fetch_kept(&kept[offset..=offset], &mut merge, index)
                            .await?;
                        continue;
                    }
                    let (search, start) = &searches[index];
                    let (page, next) = self.search(search, *start, tokens[index].take()).await?;
                    merge.fill(index, page, next.is_some());
                    tokens[index] = next;
                }
                Next::Event(index, event) => {
                    let (task, container, group, stream) = match index.checked_sub(searches.len()) {
                        // Read on from its position: never shown before.
                        Some(offset) => {
                            let kept = &kept[offset];
                            (&kept.task_id, &kept.container, None, None)
                        }
                        None => {
                            if !self.seen.first_time(event.timestamp, &event.event_id) {
                                continue;
                            }
                            let group = searches[index].0.group.as_str();
                            let Some(stream) =
                                by_name.get(&(group, event.log_stream_name.as_str()))
                            else {
                                continue;
                            };
                            (
                                &stream.task_id,
                                &stream.container,
                                Some(group),
                                Some(stream.name.as_str()),
                            )
                        }
                    };
                    let text = self.printer.render(&Line {
                        timestamp: event.timestamp,
                        task,
                        container,
                        group,
                        stream,
                        message: &event.message,
                    });
                    self.out
                        .write_all(text.as_bytes())
                        .map_err(Failed::output)?;
                }
                Next::Done => break,
            }
        }
        self.out.flush().map_err(Failed::output)?;
        self.read.extend(found.streams);
        Ok(())
    }

    /// The next page of each of `kept`, whose feeds in `merge` start at `first_feed`, asked
    /// of their agents through the server [`kept::PER_CALL`] containers a call.
    async fn fetch_kept(
        &mut self,
        kept: &[Kept],
        merge: &mut Merge,
        first_feed: usize,
    ) -> Result<(), Failed> {
        for (call, chunk) in kept.chunks(kept::PER_CALL).enumerate() {
            let asked: Vec<(&Kept, Option<&str>)> = chunk
                .iter()
                .map(|kept| (kept, self.positions.after(kept)))
                .collect();
            let body = kept::request(&self.cluster, &asked, self.start, self.filter.as_deref());
            let answer = match self.calls.call(BERTH, "GetContainerOutput", &body).await {
                Ok(answer) => answer,
                Err(error) => return Err(self.calls.explain("GetContainerOutput", error)),
            };
            let answers: Vec<kept::Answer> =
                decode("GetContainerOutput", answer["containers"].clone())?;
            let mut answers = answers.into_iter();
            for (offset, container) in chunk.iter().enumerate() {
                let feed = first_feed + call * kept::PER_CALL + offset;
                let Some(answer) = answers.next() else {
                    merge.fill(feed, Vec::new(), false);
                    continue;
                };
                let (lines, more, problem) = self.positions.take(container, answer);
                if let Some(problem) = problem {
                    self.tell(problem);
                }
                let page = lines
                    .into_iter()
                    .map(|line| Found {
                        timestamp: line.timestamp,
                        event_id: line.position,
                        log_stream_name: String::new(),
                        message: line.message,
                    })
                    .collect();
                merge.fill(feed, page, more);
            }
        }
        Ok(())
    }

    /// One page of one search; a group that does not exist has no events yet.
    async fn search(
        &mut self,
        search: &streams::Search,
        start: Option<i64>,
        token: Option<String>,
    ) -> Result<(Vec<Found>, Option<String>), Failed> {
        let mut body = json!({"logGroupName": search.group, "logStreamNames": search.names});
        if let Some(start) = start {
            body["startTime"] = json!(start);
        }
        if let Some(filter) = &self.filter {
            body["filterPattern"] = json!(filter);
        }
        if let Some(token) = token {
            body["nextToken"] = json!(token);
        }
        let page = match self.calls.call(LOGS, "FilterLogEvents", &body).await {
            Ok(page) => page,
            Err(CallError::Api { code, .. }) if code == "ResourceNotFoundException" => {
                self.tell(format!(
                    "log group {} does not exist yet: no container of these tasks has logged to it",
                    search.group
                ));
                return Ok((Vec::new(), None));
            }
            Err(error) => return Err(self.calls.explain("FilterLogEvents", error)),
        };
        let events = decode("FilterLogEvents", page["events"].clone())?;
        let next = page["nextToken"].as_str().map(str::to_owned);
        Ok((events, next))
    }

    fn tell(&mut self, note: String) {
        if !self.told.contains(&note) {
            eprintln!("berth logs: {note}");
            self.told.insert(note);
        }
    }
}

/// Why a round of calls failed: the server may come back (it was restarted, a connection
/// broke, it is overloaded), or it will not (a refused key, a missing cluster).
enum Failed {
    Transient(String),
    Fatal(anyhow::Error),
}

impl Failed {
    fn output(error: std::io::Error) -> Failed {
        Failed::Fatal(error.into())
    }

    fn into_error(self) -> anyhow::Error {
        match self {
            Failed::Transient(message) => anyhow!(message),
            Failed::Fatal(error) => error,
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(action: &str, value: Value) -> Result<T, Failed> {
    serde_json::from_value(value)
        .map_err(|e| Failed::Fatal(anyhow!("{action} answered something unexpected: {e}")))
}

/// The API calls, over one connection, with errors said with what to do next.
struct Calls {
    /// `None` until the first call, and after a call that got no answer in time.
    connection: Option<Connection>,
    server: Arc<aws::Server>,
    key_source: String,
}

impl Calls {
    async fn call(
        &mut self,
        api: aws::Api,
        action: &str,
        body: &Value,
    ) -> Result<Value, CallError> {
        let (slot, server) = (&mut self.connection, &self.server);
        let answer = tokio::time::timeout(CALL_TIMEOUT, async {
            let connection = match slot {
                Some(connection) => connection,
                None => slot.insert(Connection::open(server).await?),
            };
            connection.call(api, action, body).await
        })
        .await;
        answer.unwrap_or_else(|_| {
            // The connection may still carry the late answer: start afresh.
            self.connection = None;
            Err(CallError::Connect(ConnectError::Unreachable {
                server: self.server.endpoint.url().to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
                ),
            }))
        })
    }

    async fn ecs(&mut self, action: &str, body: Value) -> Result<Value, Failed> {
        self.call(ECS, action, &body)
            .await
            .map_err(|error| self.explain(action, error))
    }

    /// Every page of a ListTasks.
    async fn list_tasks(&mut self, mut body: Value) -> Result<Vec<String>, Failed> {
        let mut arns = Vec::new();
        loop {
            let page = self.ecs("ListTasks", body.clone()).await?;
            arns.extend(decode::<Vec<String>>(
                "ListTasks",
                page["taskArns"].clone(),
            )?);
            match page["nextToken"].as_str() {
                Some(token) => body["nextToken"] = json!(token),
                None => return Ok(arns),
            }
        }
    }

    /// `error` in words that say what to do next, and whether it may pass by itself.
    fn explain(&self, action: &str, error: CallError) -> Failed {
        let url = self.server.endpoint.url();
        match error {
            CallError::Connect(ConnectError::Unreachable { source, .. }) => {
                Failed::Transient(format!(
                    "cannot reach the server at {url}: {source} (is `berth server` running? \
                     AWS_ENDPOINT_URL or --endpoint says where it is)"
                ))
            }
            CallError::Http { .. } => Failed::Transient(format!("{action}: {error}")),
            CallError::Api { status, .. } if status.is_server_error() => {
                Failed::Transient(format!("{action} failed: {error}"))
            }
            CallError::Api { code, message, .. } => {
                let next = match code.as_str() {
                    "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "MissingAuthenticationTokenException"
                    | "AccessDeniedException" => format!(
                        " (the key is from {}: `eval` the `export …` line `berth server` \
                         printed, or make a key with `berth keys create`)",
                        self.key_source
                    ),
                    "ClusterNotFoundException" => " (`aws ecs list-clusters` lists the clusters; \
                                                   pass one with --cluster)"
                        .to_owned(),
                    "InvalidParameterException"
                        if matches!(action, "FilterLogEvents" | "GetContainerOutput") =>
                    {
                        " (--filter takes a CloudWatch Logs filter pattern)".to_owned()
                    }
                    _ => String::new(),
                };
                Failed::Fatal(anyhow!("{action} failed: {code}: {message}{next}"))
            }
            other => Failed::Fatal(anyhow!("{action} failed: {other}")),
        }
    }
}
