//! How task sizes read, and Fargate's table with its refusals.

use super::{fargate_cpu_memory, quantity};
use crate::validate::check::CLIENT;
use crate::validate::testing::assert_rejected;

#[test]
fn parses_task_sizes_as_ecs_does() {
    for (text, unit, expected) in [
        ("1024", "vcpu", Some(1024)),
        (" 512 ", "vcpu", Some(512)),
        ("1 vCPU", "vcpu", Some(1024)),
        ("0.25 vCPU", "vcpu", Some(256)),
        (".5 vcpu", "vcpu", Some(512)),
        ("0.125 VCPU", "vcpu", Some(128)),
        ("2vcpu", "vcpu", Some(2048)),
        ("2 GB", "gb", Some(2048)),
        ("1.5GB", "gb", Some(1536)),
        ("0.5 gb", "gb", Some(512)),
        ("0.3 GB", "gb", None),
        ("1.0000001 vcpu", "vcpu", None),
        ("vcpu", "vcpu", None),
        (". vcpu", "vcpu", None),
        ("1e3", "vcpu", None),
        ("-1", "vcpu", None),
        ("+1", "vcpu", None),
        ("", "gb", None),
        ("99999999999999999999 GB", "gb", None),
        ("2 TB", "gb", None),
    ] {
        assert_eq!(quantity(text, unit), expected, "{text:?}");
    }
}

#[test]
fn fargate_table() {
    let sizes: [(i64, &[i64]); 7] = [
        (256, &[512, 1024, 2048]),
        (512, &[1024, 2048, 3072, 4096]),
        (1024, &[2048, 3072, 4096, 5120, 6144, 7168, 8192]),
        (2048, &[4096, 9216, 16384]),
        (4096, &[8192, 20480, 30720]),
        (8192, &[16384, 20480, 61440]),
        (16384, &[32768, 40960, 122880]),
    ];
    for (cpu, memories) in sizes {
        for memory in memories {
            assert_eq!(
                fargate_cpu_memory(&cpu.to_string(), &memory.to_string()),
                Ok(()),
                "{cpu}/{memory}"
            );
        }
    }
    for (cpu, memory) in [
        ("0.25 vCPU", "0.5 GB"),
        ("1 vcpu", "2GB"),
        ("4 vCPU", "30 GB"),
        ("16 vCPU", "120 GB"),
    ] {
        assert_eq!(fargate_cpu_memory(cpu, memory), Ok(()), "{cpu}/{memory}");
    }
    for (cpu, memory, needle) in [
        (
            "256",
            "1536",
            "memory: no Fargate configuration exists for cpu 256 and memory 1536",
        ),
        ("512", "512", "cpu 512 takes memory 1024, 2048, 3072, 4096"),
        (
            "1024",
            "9216",
            "cpu 1024 takes memory 2048 to 8192 in steps of 1024",
        ),
        (
            "2048",
            "4608",
            "memory: no Fargate configuration exists for cpu 2048 and memory 4608",
        ),
        ("4096", "31744", "cpu 4096 takes memory 8192 to 30720"),
        (
            "8192",
            "18432",
            "cpu 8192 takes memory 16384 to 61440 in steps of 4096",
        ),
        (
            "16384",
            "36864",
            "cpu 16384 takes memory 32768 to 122880 in steps of 8192",
        ),
        (
            "128",
            "512",
            "cpu: no Fargate configuration exists for cpu 128",
        ),
        (
            "32768",
            "65536",
            "cpu: no Fargate configuration exists for cpu 32768",
        ),
        ("abc", "1024", "cpu: must be CPU units"),
        ("256", "1.5 TB", "memory: must be MiB"),
    ] {
        assert_rejected(cpu, fargate_cpu_memory(cpu, memory), CLIENT, needle);
    }
}
