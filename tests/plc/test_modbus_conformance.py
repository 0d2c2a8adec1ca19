"""Modbus conformance of the virtual PLC, judged by peers written elsewhere: pyModbusTCP, raw frames, mbpoll.

Function codes other than 03/04/06/16 answer exception 01 and change nothing; FC 06 echoes the request; FC 16 is
all-or-nothing; unknown unit ids answer 0B without a traceback; Enapter 7000-7009 and 1015 exist; a bounded fuzzer
of random frames leaves the server up and nothing written.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct

import pytest
from pyModbusTCP.client import ModbusClient

from h2quarters.plc.virtual_plc import VirtualPlc

from .conftest import dev_settings
from .test_peers import _values, mbpoll


@pytest.fixture
async def plc(scenario, profile):  # noqa: ANN001, ANN201 - Modbus only: building the OPC UA space costs seconds
    vp = VirtualPlc(scenario, dev_settings(speed=60.0), profile=profile)
    await vp.start(opcua=False)
    try:
        yield vp
    finally:
        await vp.stop()


def _client(plc: VirtualPlc, unit: int) -> ModbusClient:
    return ModbusClient(host="127.0.0.1", port=plc.modbus_port, unit_id=unit, timeout=3.0, auto_open=True)


async def _raw(port: int, frames: list[bytes], timeout_s: float = 3.0) -> list[bytes]:
    """Send MBAP frames one by one on one connection; return each reply (b'' when none came in time)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        for f in frames:
            writer.write(f)
            await writer.drain()
            try:
                head = await asyncio.wait_for(reader.readexactly(6), timeout_s)
                n = struct.unpack(">H", head[4:6])[0]
                out.append(head + await asyncio.wait_for(reader.readexactly(n), timeout_s))
            except (TimeoutError, asyncio.IncompleteReadError):
                out.append(b"")
    finally:
        writer.close()
    return out


def _mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


async def test_unsupported_function_codes_answer_01_and_do_nothing(plc: VirtualPlc) -> None:
    hold = dict(plc.plant.hold)
    reqs = {
        0x01: struct.pack(">BHH", 1, 0, 8),            # read coils
        0x02: struct.pack(">BHH", 2, 0, 8),            # read discrete inputs
        0x05: struct.pack(">BHH", 5, 30, 0xFF00),      # write single coil (would be "e-stop")
        0x0F: struct.pack(">BHHB", 15, 0, 8, 1) + b"\xff",
        0x16: struct.pack(">BHHH", 0x16, 30, 0xFFFF, 0x0001),  # mask write holding 30 (estop) to 1
        0x17: struct.pack(">BHHHHB", 0x17, 0, 1, 30, 1, 2) + b"\x00\x01",  # read/write: estop = 1
        0x2B: bytes([0x2B, 0x0E, 0x01, 0x00]),         # read device identification
        0x08: bytes([0x08, 0x00, 0x00, 0x12, 0x34]),   # diagnostics echo
        0x41: bytes([0x41, 0x00]),                     # user-defined
    }
    replies = await _raw(plc.modbus_port, [_mbap(i + 1, 2, pdu) for i, pdu in enumerate(reqs.values())])
    for (fc, _), reply in zip(reqs.items(), replies, strict=True):
        assert reply[7] == fc | 0x80 and reply[8] == 0x01, (hex(fc), reply.hex())
    assert plc.plant.hold == hold and plc.plant.read("estop_active") is False
    # pyModbusTCP sees the same through its own API
    c = _client(plc, 2)
    try:
        assert await asyncio.to_thread(c.write_single_coil, 30, True) is False
        assert c.last_except == 0x01
        assert await asyncio.to_thread(c.read_coils, 0, 8) is None and c.last_except == 0x01
        assert await asyncio.to_thread(c.write_read_multiple_registers, 30, [1], 0, 1) is None
        assert c.last_except == 0x01
    finally:
        c.close()
    assert plc.plant.hold == hold


async def test_fc6_echoes_the_request_even_for_self_clearing_registers(plc: VirtualPlc) -> None:
    c = _client(plc, 2)
    try:
        await asyncio.to_thread(c.write_single_register, 30, 1)  # estop pressed → a latched trip to reset
        await asyncio.to_thread(c.write_single_register, 30, 0)
        assert plc.plant.read("trips_latched") & 32
        # pyModbusTCP checks that the FC 06 reply echoes address and value, else it reports failure
        assert await asyncio.to_thread(c.write_single_register, 31, 1) is True, c.last_error_as_txt
        assert plc.plant.hold["reset"] is False and not plc.plant.read("trips_latched") & 32
        assert await asyncio.to_thread(c.read_holding_registers, 31, 1) == [0]  # reads back 0 (self-clearing)
    finally:
        c.close()
    reply = (await _raw(plc.modbus_port, [_mbap(9, 2, struct.pack(">BHH", 6, 31, 1))]))[0]
    assert reply[7:] == struct.pack(">BHH", 6, 31, 1)


def _f32(x: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", x)))


async def test_fc16_is_all_or_nothing(plc: VirtualPlc) -> None:
    p = plc.plant
    c = _client(plc, 2)
    try:
        # holding 10..13: fc_start, reserved 11, fc_setpoint_kw (12-13): a reserved register → 02, nothing written
        assert await asyncio.to_thread(c.write_multiple_registers, 10, [1, 0, *_f32(1.0)]) is False
        assert c.last_except == 0x02 and p.hold["fc_start"] is False and p.hold["fc_setpoint_kw"] == 0.0
        # holding 20..23: ventilation 50 % (fine) then battery setpoint far out of range → 03, ventilation unchanged
        vent = p.hold["ventilation_setpoint_pct"]
        assert await asyncio.to_thread(c.write_multiple_registers, 20, [*_f32(50.0), *_f32(1e6)]) is False
        assert c.last_except == 0x03 and p.hold["ventilation_setpoint_pct"] == vent
        # watchdog timeout 600 s: inside the map's range but beyond the PLC's bound (60 s) → 03
        assert await asyncio.to_thread(c.write_multiple_registers, 2, [600_000 >> 16, 600_000 & 0xFFFF]) is False
        assert c.last_except == 0x03 and p.hold["watchdog_timeout_ms"] == 60_000
        # PLC-state refusal half-way: fc_setpoint_kw = 1 kW (fine) then fc_command_op = start, refused while the
        # e-stop is latched → the setpoint written first is rolled back
        assert await asyncio.to_thread(c.write_single_register, 30, 1) and \
            await asyncio.to_thread(c.write_single_register, 30, 0)
        assert p.read("trips_latched") & 32
        before = dict(p.hold)
        assert await asyncio.to_thread(c.write_multiple_registers, 12, [*_f32(1.0), 0, 4]) is False
        assert c.last_except == 0x03 and p.hold == before and p.hold["fc_setpoint_kw"] == 0.0
        # the same request once the trip is reset is applied as a whole
        assert await asyncio.to_thread(c.write_single_register, 31, 1)
        p.write("operating_mode", 1)
        assert await asyncio.to_thread(c.write_multiple_registers, 12, [*_f32(1.0), 0, 4]) is True
        assert p.hold["fc_setpoint_kw"] == 1.0 and p.hold["fc_start"] is True
    finally:
        c.close()


async def test_unknown_unit_ids_answer_0b_without_traceback(plc: VirtualPlc, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    frames = [_mbap(i, unit, struct.pack(">BHH", 3, 0, 1)) for i, unit in enumerate((0, 3, 17, 247, 255))]
    for reply in await _raw(plc.modbus_port, frames):
        assert reply[7] == 0x83 and reply[8] == 0x0B, reply.hex()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or "Traceback" in r.getMessage()]


async def test_enapter_7000_block_and_flushing_over_mbpoll(plc: VirtualPlc) -> None:
    port = plc.modbus_port
    rc, out = await mbpoll(port, "-a", "1", "-t", "3", "-r", "7000", "-c", "10")
    assert rc == 0, out
    vals = _values(out)
    assert sorted(vals) == list(range(7000, 7010))
    p_high = plc.plant.read("tank_pressure_bar") >= plc.plant.p_high_bar
    assert int(vals[7006]) == int(p_high) == int(plc.plant.read("el_psh102_pressure_high"))
    # flushing (holding 1015) holds production off
    assert (await mbpoll(port, "-a", "1", "-t", "4:float", "-r", "1002", write="100"))[0] == 0
    assert (await mbpoll(port, "-a", "1", "-t", "4", "-r", "1015", write="1"))[0] == 0
    assert (await mbpoll(port, "-a", "1", "-t", "4", "-r", "1000", write="1"))[0] == 0
    assert plc.plant.hold["el_flushing"] is True
    await asyncio.sleep(0.5)
    assert plc.plant.read("el_power_kw") < 0.5 and plc.plant.read("el_h2_total_nl") == 0.0
    rc, out = await mbpoll(port, "-a", "1", "-t", "4", "-r", "1015")
    assert rc == 0 and int(_values(out)[1015]) == 1, out


async def test_random_frame_fuzzer_leaves_server_up_and_nothing_written(plc: VirtualPlc,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """10,000 random frames (seeded): every well-framed one gets an answer, no write lands, no traceback."""
    caplog.set_level(logging.WARNING)
    rng = random.Random(15)
    p = plc.plant
    hold = dict(p.hold)
    fcs = [fc for fc in range(256) if fc not in (6, 16)]  # valid FC 06/16 writes would legitimately write
    frames = []
    for tid in range(10_000):
        r = rng.random()
        if r < 0.1:  # FC 16 whose byte count disagrees with its register count (malformed)
            n = rng.randint(1, 10)
            pdu = struct.pack(">BHHB", 16, rng.randint(0, 40), n, 2 * n + rng.choice((-1, 1, 2))) + \
                rng.randbytes(2 * n)
        elif r < 0.15:  # truncated FC 06
            pdu = bytes([6]) + rng.randbytes(rng.randint(0, 3))
        else:
            pdu = bytes([rng.choice(fcs)]) + rng.randbytes(rng.randint(0, 12))
        frames.append(_mbap(tid, rng.choice((1, 2, 1, 2, 0, 9, 255)), pdu))
    replies = []
    for k in range(0, len(frames), 1000):
        replies += await _raw(plc.modbus_port, frames[k:k + 1000], timeout_s=2.0)
    answered = sum(1 for r in replies if r)
    assert answered == len(frames)  # each complete frame is answered (data or exception), none hangs
    assert p.hold == hold  # nothing written
    # garbage byte streams (no valid MBAP framing) on fresh connections: the server stays up
    for _ in range(20):
        _, writer = await asyncio.open_connection("127.0.0.1", plc.modbus_port)
        writer.write(rng.randbytes(rng.randint(1, 300)))
        await writer.drain()
        writer.close()
    assert p.hold == hold
    c = _client(plc, 2)
    try:
        regs = await asyncio.to_thread(c.read_input_registers, 30, 2)
    finally:
        c.close()
    assert regs is not None and len(regs) == 2
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
