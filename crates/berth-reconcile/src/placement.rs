//! Choosing a container instance for a task: resources, constraints, then strategies.
//!
//! A [`Placer`] holds the cluster's free capacity for one round and consumes it as it places,
//! so several tasks placed in one round never overcommit an instance.

use crate::query::{self, Expr, INSTANCE_ID};
use crate::Rng;
use std::collections::{BTreeMap, HashMap};

/// CPU units (1024 per core) and MiB of memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu: i64,
    pub memory: i64,
}

impl Resources {
    fn fits_in(self, free: Resources) -> bool {
        self.cpu <= free.cpu && self.memory <= free.memory
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub registered: Resources,
    pub attributes: BTreeMap<String, String>,
    /// ACTIVE and connected: a DRAINING or disconnected instance takes no new tasks.
    pub accepts_tasks: bool,
    /// Its agent was not heard from for its cluster's `lost_after`: the tasks it held are
    /// given up, and replaced where a service wants them.
    pub lost: bool,
}

/// A task that holds resources on an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Occupant {
    pub instance: String,
    pub group: String,
    pub resources: Resources,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinpackField {
    Cpu,
    Memory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Random,
    /// Spread over the values of an attribute; `instanceId` and `host` spread over instances.
    Spread(String),
    Binpack(BinpackField),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    DistinctInstance,
    MemberOf(Expr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementError(pub String);

/// Reads ECS's `placementStrategy` entries.
pub fn strategy(kind: &str, field: Option<&str>) -> Result<Strategy, PlacementError> {
    match (kind, field) {
        ("random", _) => Ok(Strategy::Random),
        ("spread", Some(field)) => Ok(Strategy::Spread(field.to_string())),
        ("binpack", Some(f)) if f.eq_ignore_ascii_case("cpu") => {
            Ok(Strategy::Binpack(BinpackField::Cpu))
        }
        ("binpack", Some(f)) if f.eq_ignore_ascii_case("memory") => {
            Ok(Strategy::Binpack(BinpackField::Memory))
        }
        _ => Err(PlacementError(format!(
            "unsupported placement strategy {kind} {field:?}"
        ))),
    }
}

/// Reads ECS's `placementConstraints` entries.
pub fn constraint(kind: &str, expression: Option<&str>) -> Result<Constraint, PlacementError> {
    match (kind, expression) {
        ("distinctInstance", _) => Ok(Constraint::DistinctInstance),
        ("memberOf", Some(expression)) => query::parse(expression)
            .map(Constraint::MemberOf)
            .map_err(|e| PlacementError(format!("memberOf expression: {e}"))),
        _ => Err(PlacementError(format!(
            "unsupported placement constraint {kind}"
        ))),
    }
}

/// What one task asks of placement.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub group: &'a str,
    pub resources: Resources,
    pub strategies: &'a [Strategy],
    pub constraints: &'a [Constraint],
}

/// Why a task could not be placed, in ECS's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unplaceable {
    NoInstances,
    /// `RESOURCE:CPU`, `RESOURCE:MEMORY`: the resource no instance had enough of.
    Resource(&'static str),
    /// `MemberOf` or `DistinctInstance`: the constraint no instance met.
    Constraint(&'static str),
}

impl Unplaceable {
    /// The `reason` ECS puts in RunTask's `failures`.
    pub fn reason(&self) -> &'static str {
        match self {
            Unplaceable::NoInstances => "No Container Instances were found in your cluster.",
            Unplaceable::Resource(resource) | Unplaceable::Constraint(resource) => resource,
        }
    }
}

struct Slot {
    instance: Instance,
    free: Resources,
}

/// Places tasks on instances, one decision at a time, keeping what each decision took.
///
/// Built for rounds that place thousands of tasks over a thousand machines: instances are
/// found by id through a map, each group keeps its task count per instance in a vector, and
/// an attribute's values are numbered once per attribute, so a decision is a few passes of
/// integer arithmetic over the instances.
pub struct Placer {
    /// By instance id, so that ties go to the lowest.
    slots: Vec<Slot>,
    by_id: HashMap<String, usize>,
    /// Per group, its tasks on each slot.
    groups: HashMap<String, Vec<u32>>,
    /// Per attribute spread over: each slot's value, numbered, and how many values there are.
    values: HashMap<String, (Vec<usize>, usize)>,
}

impl Placer {
    pub fn new(instances: &[Instance], occupants: &[Occupant]) -> Self {
        let mut slots: Vec<Slot> = instances
            .iter()
            .map(|instance| {
                let mut instance = instance.clone();
                instance
                    .attributes
                    .insert(INSTANCE_ID.to_string(), instance.id.clone());
                Slot {
                    free: instance.registered,
                    instance,
                }
            })
            .collect();
        slots.sort_by(|a, b| a.instance.id.cmp(&b.instance.id));
        let by_id = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| (slot.instance.id.clone(), i))
            .collect();
        let mut placer = Self {
            slots,
            by_id,
            groups: HashMap::new(),
            values: HashMap::new(),
        };
        for occupant in occupants {
            placer.occupy(&occupant.instance, &occupant.group, occupant.resources);
        }
        placer
    }

    fn counts(&mut self, group: &str) -> &mut Vec<u32> {
        let slots = self.slots.len();
        self.groups
            .entry(group.to_string())
            .or_insert_with(|| vec![0; slots])
    }

    fn count(&self, group: &str, slot: usize) -> u32 {
        self.groups.get(group).map_or(0, |counts| counts[slot])
    }

    fn occupy(&mut self, instance: &str, group: &str, resources: Resources) {
        if let Some(&i) = self.by_id.get(instance) {
            self.slots[i].free.cpu -= resources.cpu;
            self.slots[i].free.memory -= resources.memory;
            self.counts(group)[i] += 1;
        }
    }

    /// Frees what a stopping task held, so the same round can reuse it.
    pub fn release(&mut self, instance: &str, group: &str, resources: Resources) {
        if let Some(&i) = self.by_id.get(instance) {
            self.slots[i].free.cpu += resources.cpu;
            self.slots[i].free.memory += resources.memory;
            if let Some(counts) = self.groups.get_mut(group) {
                counts[i] = counts[i].saturating_sub(1);
            }
        }
    }

    pub fn free(&self, instance: &str) -> Option<Resources> {
        self.by_id.get(instance).map(|&i| self.slots[i].free)
    }

    /// Places one task and records it, or says why no instance can take it.
    pub fn place(&mut self, request: &Request<'_>, rng: &mut Rng) -> Result<String, Unplaceable> {
        let mut candidates: Vec<usize> = (0..self.slots.len())
            .filter(|i| self.slots[*i].instance.accepts_tasks)
            .collect();
        if candidates.is_empty() {
            return Err(Unplaceable::NoInstances);
        }
        for constraint in request.constraints {
            candidates.retain(|i| self.meets(*i, request.group, constraint));
            if candidates.is_empty() {
                return Err(Unplaceable::Constraint(match constraint {
                    Constraint::DistinctInstance => "DistinctInstance",
                    Constraint::MemberOf(_) => "MemberOf",
                }));
            }
        }
        let fitting: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| request.resources.fits_in(self.slots[*i].free))
            .collect();
        if fitting.is_empty() {
            let cpu_fits = candidates
                .iter()
                .any(|i| request.resources.cpu <= self.slots[*i].free.cpu);
            return Err(Unplaceable::Resource(if cpu_fits {
                "RESOURCE:MEMORY"
            } else {
                "RESOURCE:CPU"
            }));
        }
        let chosen = self.choose(fitting, request, rng);
        let id = self.slots[chosen].instance.id.clone();
        self.occupy(&id, request.group, request.resources);
        Ok(id)
    }

    fn meets(&self, slot: usize, group: &str, constraint: &Constraint) -> bool {
        match constraint {
            Constraint::DistinctInstance => self.count(group, slot) == 0,
            Constraint::MemberOf(expr) => expr.matches(&self.slots[slot].instance.attributes),
        }
    }

    /// Each slot's value of `attribute`, numbered (instances without it share one number),
    /// and how many numbers there are.
    fn values(&mut self, attribute: &str) -> &(Vec<usize>, usize) {
        let slots = &self.slots;
        self.values.entry(attribute.to_string()).or_insert_with(|| {
            let mut numbers: HashMap<Option<&String>, usize> = HashMap::new();
            let of_slot = slots
                .iter()
                .map(|slot| {
                    let next = numbers.len();
                    *numbers
                        .entry(slot.instance.attributes.get(attribute))
                        .or_insert(next)
                })
                .collect();
            (of_slot, numbers.len())
        })
    }

    /// Applies the strategies in order, each narrowing to its best candidates; what ties at
    /// the end goes to the lowest instance id, so a plan is reproducible.
    fn choose(
        &mut self,
        mut candidates: Vec<usize>,
        request: &Request<'_>,
        rng: &mut Rng,
    ) -> usize {
        for strategy in request.strategies {
            if candidates.len() == 1 {
                break;
            }
            match strategy {
                Strategy::Random => {
                    return candidates[rng.below(candidates.len() as u64) as usize];
                }
                Strategy::Binpack(field) => {
                    let left = |i: &usize| {
                        let free = self.slots[*i].free;
                        match field {
                            BinpackField::Cpu => free.cpu - request.resources.cpu,
                            BinpackField::Memory => free.memory - request.resources.memory,
                        }
                    };
                    let best = candidates.iter().map(left).min().unwrap_or(0);
                    candidates.retain(|i| left(i) == best);
                }
                Strategy::Spread(field) => {
                    let attribute = match field.as_str() {
                        "instanceId" | "host" => INSTANCE_ID,
                        other => other.strip_prefix("attribute:").unwrap_or(other),
                    };
                    let no_tasks = vec![0; self.slots.len()];
                    let counts = self.groups.get(request.group).unwrap_or(&no_tasks).clone();
                    let load: Vec<usize> = if attribute == INSTANCE_ID {
                        counts.iter().map(|&n| n as usize).collect()
                    } else {
                        let (of_slot, distinct) = self.values(attribute).clone();
                        let mut per_value = vec![0usize; distinct];
                        for (slot, &n) in counts.iter().enumerate() {
                            per_value[of_slot[slot]] += n as usize;
                        }
                        of_slot.iter().map(|&value| per_value[value]).collect()
                    };
                    let best = candidates.iter().map(|&i| load[i]).min().unwrap_or(0);
                    candidates.retain(|&i| load[i] == best);
                }
            }
        }
        candidates[0]
    }
}

#[cfg(test)]
mod tests {
    use super::Strategy;
    use super::*;
    use crate::Rng;
    use proptest::prelude::{any, prop_assert, proptest};

    fn instance(id: &str, cpu: i64, memory: i64, zone: &str) -> Instance {
        Instance {
            id: id.into(),
            registered: Resources { cpu, memory },
            attributes: [("zone".to_string(), zone.to_string())].into(),
            accepts_tasks: true,
            lost: false,
        }
    }

    fn request<'a>(strategies: &'a [Strategy], constraints: &'a [Constraint]) -> Request<'a> {
        Request {
            group: "service:web",
            resources: Resources {
                cpu: 256,
                memory: 512,
            },
            strategies,
            constraints,
        }
    }

    fn place_n(placer: &mut Placer, n: usize, req: &Request<'_>) -> Vec<String> {
        let mut rng = Rng::new(7);
        (0..n)
            .map(|_| placer.place(req, &mut rng).unwrap())
            .collect()
    }

    #[test]
    fn spread_by_zone_alternates_zones() {
        let instances = [
            instance("a1", 4096, 8192, "a"),
            instance("a2", 4096, 8192, "a"),
            instance("b1", 4096, 8192, "b"),
        ];
        let mut placer = Placer::new(&instances, &[]);
        let strategies = [
            Strategy::Spread("attribute:zone".into()),
            Strategy::Spread("instanceId".into()),
        ];
        let placed = place_n(&mut placer, 4, &request(&strategies, &[]));
        let zones: Vec<&str> = placed.iter().map(|id| &id[..1]).collect();
        assert_eq!(zones.iter().filter(|z| **z == "a").count(), 2);
        assert_eq!(zones.iter().filter(|z| **z == "b").count(), 2);
        assert_ne!(placed[0], placed[2], "within a zone, spread by instance");
    }

    #[test]
    fn binpack_fills_the_fullest_instance_first() {
        let instances = [
            instance("big", 4096, 8192, "a"),
            instance("small", 1024, 2048, "a"),
        ];
        let mut placer = Placer::new(&instances, &[]);
        let strategies = [Strategy::Binpack(BinpackField::Memory)];
        let placed = place_n(&mut placer, 5, &request(&strategies, &[]));
        assert_eq!(placed[..4], ["small", "small", "small", "small"]);
        assert_eq!(placed[4], "big");
    }

    #[test]
    fn distinct_instance_refuses_a_second_task_per_instance() {
        let instances = [
            instance("a", 4096, 8192, "a"),
            instance("b", 4096, 8192, "a"),
        ];
        let mut placer = Placer::new(&instances, &[]);
        let constraints = [Constraint::DistinctInstance];
        let req = request(&[], &constraints);
        let mut rng = Rng::new(1);
        let first = placer.place(&req, &mut rng).unwrap();
        let second = placer.place(&req, &mut rng).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            placer.place(&req, &mut rng),
            Err(Unplaceable::Constraint("DistinctInstance"))
        );
    }

    #[test]
    fn member_of_keeps_tasks_on_matching_instances() {
        let instances = [
            instance("a", 4096, 8192, "a"),
            instance("b", 4096, 8192, "b"),
        ];
        let mut placer = Placer::new(&instances, &[]);
        let constraints = [constraint("memberOf", Some("attribute:zone == b")).unwrap()];
        assert!(place_n(&mut placer, 3, &request(&[], &constraints))
            .iter()
            .all(|id| id == "b"));
        let none = [constraint("memberOf", Some("attribute:zone == c")).unwrap()];
        assert_eq!(
            placer.place(&request(&[], &none), &mut Rng::new(1)),
            Err(Unplaceable::Constraint("MemberOf"))
        );
    }

    #[test]
    fn says_which_resource_ran_out() {
        let mut placer = Placer::new(&[instance("a", 512, 100_000, "a")], &[]);
        let big_cpu = Request {
            resources: Resources {
                cpu: 1024,
                memory: 1,
            },
            ..request(&[], &[])
        };
        assert_eq!(
            placer.place(&big_cpu, &mut Rng::new(1)),
            Err(Unplaceable::Resource("RESOURCE:CPU"))
        );
        let big_memory = Request {
            resources: Resources {
                cpu: 1,
                memory: 200_000,
            },
            ..request(&[], &[])
        };
        assert_eq!(
            placer.place(&big_memory, &mut Rng::new(1)),
            Err(Unplaceable::Resource("RESOURCE:MEMORY"))
        );
        assert_eq!(
            Placer::new(&[], &[]).place(&big_cpu, &mut Rng::new(1)),
            Err(Unplaceable::NoInstances)
        );
    }

    #[test]
    fn draining_instances_take_nothing() {
        let mut draining = instance("d", 4096, 8192, "a");
        draining.accepts_tasks = false;
        let mut placer = Placer::new(&[draining, instance("ok", 4096, 8192, "a")], &[]);
        assert!(place_n(&mut placer, 3, &request(&[], &[]))
            .iter()
            .all(|id| id == "ok"));
    }

    #[test]
    fn existing_occupants_count() {
        let occupant = Occupant {
            instance: "a".into(),
            group: "service:web".into(),
            resources: Resources {
                cpu: 4000,
                memory: 100,
            },
        };
        let mut placer = Placer::new(
            &[
                instance("a", 4096, 8192, "a"),
                instance("b", 4096, 8192, "a"),
            ],
            &[occupant],
        );
        assert_eq!(place_n(&mut placer, 1, &request(&[], &[])), ["b"]);
    }

    #[test]
    fn random_is_reproducible_from_its_seed() {
        let instances: Vec<Instance> = (0..5)
            .map(|i| instance(&format!("i{i}"), 100_000, 100_000, "a"))
            .collect();
        let run = |seed| {
            let mut placer = Placer::new(&instances, &[]);
            let mut rng = Rng::new(seed);
            let strategies = [Strategy::Random];
            (0..20)
                .map(|_| placer.place(&request(&strategies, &[]), &mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    proptest! {
        #[test]
        fn never_overcommits_an_instance(
            capacities in proptest::collection::vec((0i64..4096, 0i64..8192), 1..6),
            asks in proptest::collection::vec((0i64..1024, 0i64..2048), 1..40),
            strategy in 0usize..4,
            seed in any::<u64>(),
        ) {
            let instances: Vec<Instance> = capacities
                .iter()
                .enumerate()
                .map(|(i, (cpu, memory))| instance(&format!("i{i}"), *cpu, *memory, if i % 2 == 0 { "a" } else { "b" }))
                .collect();
            let strategies = [[Strategy::Random], [Strategy::Spread("attribute:zone".into())],
                [Strategy::Binpack(BinpackField::Cpu)], [Strategy::Binpack(BinpackField::Memory)]];
            let mut placer = Placer::new(&instances, &[]);
            let mut rng = Rng::new(seed);
            for (cpu, memory) in asks {
                let req = Request {
                    group: "g",
                    resources: Resources { cpu, memory },
                    strategies: &strategies[strategy],
                    constraints: &[],
                };
                let fits_somewhere = instances.iter().any(|i| {
                    placer.free(&i.id).is_some_and(|free| req.resources.fits_in(free))
                });
                match placer.place(&req, &mut rng) {
                    Ok(_) => prop_assert!(fits_somewhere),
                    Err(_) => prop_assert!(!fits_somewhere),
                }
            }
            for i in &instances {
                let free = placer.free(&i.id).unwrap();
                prop_assert!(free.cpu >= 0 && free.memory >= 0);
            }
        }
    }
}
