/* VFIO error paths against a fake sysfs/dev tree: each mistake a user can make
 * gets a message naming the device and the command that fixes it. Also the
 * PCI address parser and the virtio capability walk. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ports/vfio/vfio_pci.h"
#include "ports/vfio/vfio_port.h"
#include "ports/vfio/virtio_pci.h"

static char root[64];
static const char *BDF = "0000:00:04.0";
static const char *PEER = "0000:00:05.0";

static void mkdirs(const char *fmt, const char *a)
{
    char path[512], cmd[600];

    snprintf(path, sizeof(path), fmt, root, a);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
}

static void link_to(const char *target, const char *fmt, const char *a)
{
    char path[512];

    snprintf(path, sizeof(path), fmt, root, a);
    unlink(path);
    CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
}

static void unlink_fmt(const char *fmt, const char *a)
{
    char path[512];

    snprintf(path, sizeof(path), fmt, root, a);
    unlink(path);
}

/* A machine with two PCI functions in IOMMU group 7. */
static int setup(void)
{
    char cmd[512];

    snprintf(root, sizeof(root), "/tmp/vs-vfio-test.XXXXXX");
    if (!mkdtemp(root))
        return -1;
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/sys/bus/pci/drivers %s/sys/kernel/iommu_groups/7/devices", root, root);
    if (system(cmd))
        return -1;
    return 0;
}

static int teardown(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) ? -1 : 0;
}

static void add_device(const char *bdf, const char *driver)
{
    char target[128];

    mkdirs("%s/sys/bus/pci/devices/%s", bdf);
    if (driver) {
        mkdirs("%s/sys/bus/pci/drivers/%s", driver);
        snprintf(target, sizeof(target), "../../../../bus/pci/drivers/%s", driver);
        link_to(target, "%s/sys/bus/pci/devices/%s/driver", bdf);
    } else {
        unlink_fmt("%s/sys/bus/pci/devices/%s/driver", bdf);
    }
    link_to("../../../../kernel/iommu_groups/7", "%s/sys/bus/pci/devices/%s/iommu_group", bdf);
    snprintf(target, sizeof(target), "../../../../bus/pci/devices/%s", bdf);
    link_to(target, "%s/sys/kernel/iommu_groups/7/devices/%s", bdf);
}

static void test_bdf_parse(void)
{
    char out[VS_VFIO_BDF_LEN];

    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("0000:00:04.0", out), 0);
    CU_ASSERT_STRING_EQUAL(out, "0000:00:04.0");
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("0000:AF:1f.7", out), 0);
    CU_ASSERT_STRING_EQUAL(out, "0000:af:1f.7");
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("03:00.1", out), 0);
    CU_ASSERT_STRING_EQUAL(out, "0000:03:00.1");
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("0000:00:04", out), -EINVAL);
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("0000:00:20.0", out), -EINVAL); /* device > 31 */
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("0000:00:04.8", out), -EINVAL); /* function > 7 */
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("0000:00:04.0 ", out), -EINVAL);
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("../../etc/x", out), -EINVAL);
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("", out), -EINVAL);
    CU_ASSERT_EQUAL(vs_vfio_bdf_parse("0000:0g:04.0", out), -EINVAL);
}

static void test_no_device(void)
{
    struct vs_port_err err = {0};
    int group;
    bool noiommu;

    CU_ASSERT_EQUAL(vs_vfio_preflight(root, "0000:00:09.0", &group, &noiommu, &err), -ENODEV);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no PCI device 0000:00:09.0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lspci -D"));
}

static void test_not_bound(void)
{
    struct vs_port_err err = {0};
    struct vs_vfio_dev dev;
    int group;
    bool noiommu;

    add_device(BDF, "igb");
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), -ENXIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0000:00:04.0 is bound to igb, not vfio-pci"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "modprobe vfio-pci"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.msg, "echo vfio-pci > /sys/bus/pci/devices/0000:00:04.0/driver_override"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.msg, "echo 0000:00:04.0 > /sys/bus/pci/devices/0000:00:04.0/driver/unbind"));
    /* The whole command fits: the message is not cut. */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo 0000:00:04.0 > /sys/bus/pci/drivers_probe"));
    printf("\n    %s\n", err.msg);

    /* Through vs_vfio_open (what the port calls): same answer, nothing left open. */
    memset(&err, 0, sizeof(err));
    CU_ASSERT_EQUAL(vs_vfio_open(&dev, "00:04.0", root, &err), -ENXIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "driver_override"));
    CU_ASSERT_EQUAL(dev.fd, -1);
    CU_ASSERT_PTR_NULL(dev.c);

    add_device(BDF, NULL);
    memset(&err, 0, sizeof(err));
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), -ENXIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not bound to vfio-pci"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/sys/bus/pci/drivers_probe"));
}

static void test_no_iommu_group(void)
{
    struct vs_port_err err = {0};
    int group;
    bool noiommu;

    add_device(BDF, "vfio-pci");
    unlink_fmt("%s/sys/bus/pci/devices/%s/iommu_group", BDF);
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), -ENODEV);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "has no IOMMU group"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "intel_iommu=on"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "enable_unsafe_noiommu_mode=1"));
}

static void test_group_not_viable(void)
{
    struct vs_port_err err = {0};
    char buf[160];
    int group;
    bool noiommu;

    add_device(BDF, "vfio-pci");
    add_device(PEER, "e1000e");
    CU_ASSERT_EQUAL(vs_vfio_group_blockers(root, BDF, buf, sizeof(buf)), 1);
    CU_ASSERT_STRING_EQUAL(buf, "0000:00:05.0 (e1000e)");
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), -EBUSY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "IOMMU group 7 of 0000:00:04.0 is not viable"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0000:00:05.0 (e1000e)"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.msg, "echo 0000:00:05.0 > /sys/bus/pci/devices/0000:00:05.0/driver/unbind"));
    printf("\n    %s\n", err.msg);

    /* A bridge driver or an unbound peer does not block the group. */
    add_device(PEER, "pcieport");
    CU_ASSERT_EQUAL(vs_vfio_group_blockers(root, BDF, buf, sizeof(buf)), 0);
    add_device(PEER, NULL);
    CU_ASSERT_EQUAL(vs_vfio_group_blockers(root, BDF, buf, sizeof(buf)), 0);
}

static void test_dev_vfio_missing_then_present(void)
{
    struct vs_port_err err = {0};
    int group = -1;
    bool noiommu = true;
    char path[256];

    add_device(BDF, "vfio-pci");
    add_device(PEER, "vfio-pci");
    snprintf(path, sizeof(path), "rm -rf '%s/dev'", root);
    CU_ASSERT_EQUAL(system(path), 0);
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), -ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/dev/vfio"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "modprobe vfio-pci"));

    /* /dev/vfio without the group node: says which node is missing. */
    mkdirs("%s/dev/vfio%s", "");
    memset(&err, 0, sizeof(err));
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), -ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/dev/vfio/7"));

    mkdirs("%s/dev/vfio/noiommu-7%s", "");
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), 0);
    CU_ASSERT_EQUAL(group, 7);
    CU_ASSERT_TRUE(noiommu);
    mkdirs("%s/dev/vfio/7%s", "");
    CU_ASSERT_EQUAL(vs_vfio_preflight(root, BDF, &group, &noiommu, &err), 0);
    CU_ASSERT_FALSE(noiommu);

    /* Past the checks, vs_vfio_open needs the container node: a clear error too. */
    struct vs_vfio_dev dev;
    memset(&err, 0, sizeof(err));
    CU_ASSERT(vs_vfio_open(&dev, BDF, root, &err) < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/dev/vfio/vfio"));
}

static void test_memlock(void)
{
    struct vs_port_err err = {0};

    CU_ASSERT_EQUAL(vs_vfio_memlock_check(512ull << 20, 0, 64 << 10, false, &err), -ENOMEM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "RLIMIT_MEMLOCK is 64 KiB"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "524288 KiB"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ulimit -l unlimited"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "LimitMEMLOCK=infinity"));
    printf("\n    %s\n", err.msg);
    /* Already locked memory counts against the limit. */
    CU_ASSERT_EQUAL(vs_vfio_memlock_check(1 << 20, 1 << 20, 3 << 19, false, &err), -ENOMEM);
    CU_ASSERT_EQUAL(vs_vfio_memlock_check(1 << 20, 0, 1 << 20, false, &err), 0);
    CU_ASSERT_EQUAL(vs_vfio_memlock_check(1ull << 40, 0, UINT64_MAX, false, &err), 0);
    CU_ASSERT_EQUAL(vs_vfio_memlock_check(1ull << 40, 0, 0, true, &err), 0); /* CAP_IPC_LOCK */
}

static void test_port_validate(void)
{
    struct vs_port_err err = {0};
    struct vs_port_arg a[2];
    struct vs_port_args args = {.v = a};

    args.n = 0;
    CU_ASSERT_EQUAL(vs_port_vfio_ops.validate(&args, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "missing option 'pci'"));
    a[0] = (struct vs_port_arg){"pci", "0000:00:04.0", 0, 0};
    args.n = 1;
    CU_ASSERT_EQUAL(vs_port_vfio_ops.validate(&args, &err), 0);
    a[0].value = "eth0";
    CU_ASSERT_EQUAL(vs_port_vfio_ops.validate(&args, &err), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a PCI address"));
    a[0].value = "0000:00:04.0";
    a[1] = (struct vs_port_arg){"queues", "0", 0, 0};
    args.n = 2;
    CU_ASSERT_EQUAL(vs_port_vfio_ops.validate(&args, &err), -EINVAL);
    a[1].value = "2";
    CU_ASSERT_EQUAL(vs_port_vfio_ops.validate(&args, &err), 0);
    a[1] = (struct vs_port_arg){"ifname", "x", 0, 0};
    CU_ASSERT_EQUAL(vs_port_vfio_ops.validate(&args, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown option 'ifname'"));
    CU_ASSERT_STRING_EQUAL(vs_port_vfio_ops.type, "vfio");
}

/* ---- virtio capability walk ---- */

static void put_cap(uint8_t *cfg, uint8_t pos, uint8_t next, uint8_t type, uint8_t bar,
                    uint32_t off, uint32_t len, uint8_t caplen)
{
    cfg[pos] = 0x09; /* vendor-specific */
    cfg[pos + 1] = next;
    cfg[pos + 2] = caplen;
    cfg[pos + 3] = type;
    cfg[pos + 4] = bar;
    memcpy(&cfg[pos + 8], &off, 4);
    memcpy(&cfg[pos + 12], &len, 4);
}

static void test_virtio_caps(void)
{
    uint8_t cfg[256] = {0};
    struct vs_virtio_caps c;
    uint32_t mult = 4;

    cfg[0x06] = 0x10; /* status: capability list */
    cfg[0x34] = 0x40;
    cfg[0x40] = 0x11; /* MSI-X, not ours */
    cfg[0x41] = 0x50;
    put_cap(cfg, 0x50, 0x64, 1, 4, 0x0000, 0x1000, 16); /* common */
    put_cap(cfg, 0x64, 0x74, 3, 4, 0x1000, 0x1000, 16); /* ISR */
    put_cap(cfg, 0x74, 0x84, 4, 4, 0x2000, 0x1000, 16); /* device */
    put_cap(cfg, 0x84, 0x00, 2, 4, 0x3000, 0x1000, 20); /* notify */
    memcpy(&cfg[0x84 + 16], &mult, 4);
    CU_ASSERT_EQUAL(vs_virtio_pci_parse_caps(cfg, &c), 0);
    CU_ASSERT_EQUAL(c.common.bar, 4);
    CU_ASSERT_EQUAL(c.device.offset, 0x2000);
    CU_ASSERT_EQUAL(c.notify.offset, 0x3000);
    CU_ASSERT_EQUAL(c.notify_off_multiplier, 4);
    CU_ASSERT_TRUE(c.isr.present);

    /* A loop in the list ends the walk; the missing notify cap is reported. */
    cfg[0x75] = 0x50;
    CU_ASSERT_EQUAL(vs_virtio_pci_parse_caps(cfg, &c), -ENODEV);
    cfg[0x75] = 0x84;
    /* A BAR number >= 6 is ignored. */
    cfg[0x50 + 4] = 7;
    CU_ASSERT_EQUAL(vs_virtio_pci_parse_caps(cfg, &c), -ENODEV);
    cfg[0x50 + 4] = 4;
    /* No capability list at all: a legacy device. */
    cfg[0x06] = 0;
    CU_ASSERT_EQUAL(vs_virtio_pci_parse_caps(cfg, &c), -ENODEV);
    cfg[0x06] = 0x10;
    /* A pointer near the end of config space is not followed past it. */
    cfg[0x85] = 0xfc;
    cfg[0xfc] = 0x09;
    cfg[0xfd] = 0x00;
    CU_ASSERT_EQUAL(vs_virtio_pci_parse_caps(cfg, &c), 0);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("vfio_errors", setup, teardown);
    CU_add_test(s, "pci address parse", test_bdf_parse);
    CU_add_test(s, "no such device", test_no_device);
    CU_add_test(s, "not bound to vfio-pci", test_not_bound);
    CU_add_test(s, "no IOMMU group", test_no_iommu_group);
    CU_add_test(s, "group not viable", test_group_not_viable);
    CU_add_test(s, "/dev/vfio missing", test_dev_vfio_missing_then_present);
    CU_add_test(s, "memlock too small", test_memlock);
    CU_add_test(s, "port options", test_port_validate);
    CU_add_test(s, "virtio capabilities", test_virtio_caps);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
