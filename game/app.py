"""The game loop: a fixed 60 Hz simulation step and a renderer that never waits on the chain.

Each tick reads both players' controls, hands them to the session (local: submit_input for
both players, then run_inference; online: queue this player's input) and the loop renders
whatever SessionView is newest. Headless runs take the same path with scripted inputs and no
pacing, so their fps is the loop's real throughput.
"""
from __future__ import annotations

import collections
import gc
import os
import statistics
import threading
import time

import pygame

from onchain.sdk.wire import NEUTRAL, STATUS_ENDED, SessionView
from onchain.sdk.backend import BackendError
from onchain.tools.measure import pct

from . import render
from . import settings as S
from .fighter import decode
from .input import Inputs
from .match import decode_rules, timer_text
from .screens import ControlsScreen, Menu
from .session import Session, TickResult

TICK_S = 1 / 60
MAX_CATCH_UP = 4  # ticks run back to back after a stall before time is dropped


class Game:
    def __init__(self, settings: S.Settings, session: Session, renderer: render.Renderer, *,
                 model_name: str, backend_name: str, script=None, inputs: Inputs | None = None,
                 headless: bool = False):
        self.settings, self.session, self.renderer = settings, session, renderer
        self.model_name, self.backend_name = model_name, backend_name
        self.script, self.inputs, self.headless = script, inputs, headless
        self.window = self._open_window(settings["window.fullscreen"] and not headless)
        self.hud_on = settings["hud.show"]
        self.menu: Menu | None = None
        self.controls: ControlsScreen | None = None
        self.game_over_dismissed = False
        self.running = True
        self.ticks = 0
        self.stalls: list[str] = []
        self.cu: list[int] = []
        self.inference_ms: list[float] = []
        self.present_times: collections.deque = collections.deque(maxlen=61)
        self.input_times: dict[int, float] = {}
        self.latency_ms: float | None = None
        self.latencies: list[float] = []
        self.messages: list[tuple[float, str]] = []
        self.last_view: SessionView | None = None
        self.status_path = None  # --status-json: what a test or tool outside the process can check
        self.ticks_drawn = 0

    # -- window --------------------------------------------------------------------------
    def _open_window(self, fullscreen: bool) -> pygame.Surface:
        if fullscreen:
            return pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
        size = (self.settings["window.width"], self.settings["window.height"])
        return pygame.display.set_mode(size, pygame.RESIZABLE)

    def toggle_fullscreen(self) -> None:
        full = not (self.window.get_flags() & pygame.FULLSCREEN)
        self.window = self._open_window(full)

    # -- events --------------------------------------------------------------------------
    def handle_events(self) -> None:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self.running = False
                continue
            if self.inputs is not None:
                self.inputs.handle(event)
            if event.type != pygame.KEYDOWN:
                continue
            if self.controls is not None:
                if not self.controls.handle(event):
                    self.controls = None
                    if self.inputs is not None:
                        self.inputs.reload(self.settings)
                continue
            if event.key == pygame.K_F1:
                self.hud_on = not self.hud_on
            elif event.key == pygame.K_F11:
                self.toggle_fullscreen()
            elif self.menu is not None:
                self._menu_key(event.key)
            elif event.key in (pygame.K_ESCAPE, pygame.K_PAUSE):
                self.menu = Menu.pause(self)
            elif self._game_over() and event.key == pygame.K_RETURN:
                self._rematch()
            elif self._game_over() and event.key == pygame.K_c:
                self.game_over_dismissed = True

    def _menu_key(self, key: int) -> None:
        choice = self.menu.key(key)
        if choice is None:
            return
        if choice in ("resume", "back"):
            self.menu = None
        elif choice == "controls":
            self.controls = ControlsScreen(self.settings, self.renderer)
        elif choice == "hud":
            self.hud_on = not self.hud_on
            self.menu = Menu.pause(self)
        elif choice == "fullscreen":
            self.toggle_fullscreen()
            self.menu = Menu.pause(self)
        elif choice == "quit":
            self.running = False

    def _rematch(self) -> None:
        try:
            self.session.restart()
            self.game_over_dismissed = False
            self.renderer.effects = [render.Effects(), render.Effects()]
            self.say(f"new game: session {self.session.session_id}")
        except Exception as e:  # shown on screen; the old game stays up
            self.say(f"rematch failed: {e}")

    def say(self, text: str) -> None:
        self.messages.append((time.perf_counter() + 3.0, text))

    # -- simulation ----------------------------------------------------------------------
    def read_controls(self) -> dict:
        if self.script is not None:
            # Online, the script follows the session's frame (this desktop does not advance it), so
            # that the inputs for frame f are script(f) whatever the two clients' timing.
            view = self.session.view() if len(self.session.local_players) < 2 else None
            c1, c2 = self.script(view.frame if view is not None else self.ticks)
            return {0: c1, 1: c2}
        if self.inputs is None or self.menu is not None or self.controls is not None:
            return {0: NEUTRAL, 1: NEUTRAL}
        return {p: self.inputs.read(p) for p in (0, 1)}

    def paused(self) -> bool:
        local = len(self.session.local_players) == 2
        return local and (self.menu is not None or self.controls is not None)

    def tick(self) -> TickResult | None:
        view = self.session.view()
        ctrls = self.read_controls()
        if view is not None:
            self.input_times[view.frame] = time.perf_counter()
        try:
            result = self.session.tick(ctrls)
        except BackendError as e:  # a dead endpoint: say so on screen and keep drawing
            result = TickResult(False, error=f"backend: {e}")
        self.ticks += 1
        if result is not None:
            if result.cu:
                self.cu.append(result.cu)
            if result.ms is not None:
                self.inference_ms.append(result.ms)
            if not result.advanced:
                self.stalls.append(result.error or "frame did not advance")
                if len(self.stalls) == 1 or len(self.stalls) % 60 == 0:
                    self.say(self.stalls[-1][:90])
        return result

    def _game_over(self) -> bool:
        v = self.last_view
        if v is None or self.game_over_dismissed:
            return False
        if v.status == STATUS_ENDED:  # ended by a player (online: one quit) or by the rules
            return True
        rules = decode_rules(self.session.rules())
        if rules is not None:
            return rules.ended
        if v.status == STATUS_ENDED:
            return True
        return any(decode(f).dead for f in v.fighters)

    def results(self, view: SessionView) -> tuple[str, list[str]] | None:
        """The results screen's title and lines, from the rules' state (None without rules)."""
        rules = decode_rules(self.session.rules())
        extra = list(getattr(self.session, "result_lines", list)())  # online: the settlement on the base chain
        if (rules is None or not rules.ended) and view.status == STATUS_ENDED:
            return "Game ended (a player left)", [f"ended on frame {view.frame}"] + extra
        if rules is None or not rules.ended:
            return None
        match = self.renderer.match
        name = (lambda p: f"P{p + 1} {match.label(p)}") if match else (lambda p: f"P{p + 1}")
        timed_out = rules.stocks[0] > 0 and rules.stocks[1] > 0
        title = ("TIME!  " if timed_out else "GAME!  ") + (
            "Tie" if rules.winner is None else f"{name(rules.winner)} wins")
        lines = []
        for p in (0, 1):
            f = decode(view.fighters[p])
            lines.append(f"{name(p)}: {rules.stocks[p]} stock{'s' if rules.stocks[p] != 1 else ''}, "
                         f"{f.percent_shown}%, KO'd {self.renderer.effects[p].kos} times")
        end = rules.end_frame if rules.end_frame is not None else view.frame
        lines.append(f"ended on frame {end} ({timer_text(end + 1)} left)")
        if end >= 0:
            lines.append(f"rule interventions: {rules.interventions * 10_000 / (end + 1):.0f} per 10,000 frames")
        return title, lines + extra

    # -- drawing -------------------------------------------------------------------------
    def presented_view(self, now: float) -> SessionView | None:
        """The view to draw this display tick: through the playout buffer online and spectating
        (steady 60 Hz, a few frames behind the newest), else the session's newest."""
        playout = getattr(self.session, "playout", None)
        if playout is None:
            return self.session.view()
        return playout.present(now)

    def draw(self) -> None:
        view = self.presented_view(time.perf_counter())
        self.last_view = view or self.last_view
        r = self.renderer
        if view is None:
            r.surface.blit(r.background, (0, 0))
            r.draw_panel("Waiting for the session", [f"session {self.session.session_id}"])
        else:
            fighters = [decode(f) for f in view.fighters]
            ghosts = getattr(self.session, "ghosts", None)
            r.frame(fighters, [decode(g) for g in ghosts()] if ghosts else None)
            r.draw_timer(view.frame)
            if self.hud_on:
                show = self.settings.section("hud")
                fps = None
                if len(self.present_times) > 1:
                    span = self.present_times[-1] - self.present_times[0]
                    fps = (len(self.present_times) - 1) / span if span > 0 else None
                r.draw_hud(render.Hud(
                    frame=view.frame, fps=fps, cu=self.cu[-1] if self.cu else None,
                    ms=self.inference_ms[-1] if self.inference_ms else None, latency_ms=self.latency_ms,
                    model=self.model_name, backend=self.backend_name,
                    extra=tuple(self._sources()) + tuple(getattr(self.session, "hud_lines", tuple)())), show)
            results = self.results(view) if self._game_over() else None
            if results is not None and self.menu is None and self.controls is None:
                title, lines = results
                local = len(self.session.local_players) == 2
                keys = ["", "Enter: new game", "C: keep watching"] if local else ["", "Esc: menu (Quit)"]
                r.draw_panel(title, lines + ([] if self.headless else keys))
            elif self._game_over() and self.menu is None and self.controls is None and not self.headless:
                alive = [p for p, f in enumerate(fighters) if not f.dead]
                title = f"GAME!  P{alive[0] + 1} wins" if len(alive) == 1 else "GAME!"
                r.draw_panel(title, ["Enter: new game", "C: keep watching", "Esc: menu"])
        now = time.perf_counter()
        if self.inputs is not None:
            for text in self.inputs.messages():
                self.say(text)
        self.messages = [(t, m) for t, m in self.messages if t > now]
        r.draw_messages([m for _, m in self.messages])
        if self.controls is not None:
            self.controls.draw()
        elif self.menu is not None:
            self.menu.draw(r)
        # The display surface follows window resizes; fetch it rather than keep a stale one.
        self.window = pygame.display.get_surface() or self.window
        render.present(self.window, r.surface, self.settings["window.scale"])
        pygame.display.flip()
        done = time.perf_counter()
        self.present_times.append(done)
        if view is not None:  # input sampled for frame f shows up once frame f+1 is presented
            t_in = self.input_times.pop(view.frame - 1, None)
            if t_in is not None:
                self.latency_ms = (done - t_in) * 1000
                self.latencies.append(self.latency_ms)
            for f in [f for f in self.input_times if f < view.frame - 1]:
                del self.input_times[f]

    def status(self) -> dict:
        """What is on screen and on the chain now: the window's size, the menu, the frame and the
        fighters drawn, and the inputs the session's InputBuffer account holds (read from the chain)."""
        from onchain.sdk import accounts as A
        from onchain.sdk import pda
        v = self.last_view
        out = {"ticks": self.ticks, "window": list(self.window.get_size()), "hud": self.hud_on,
               "menu": self.menu.title if self.menu is not None else None,
               "controls_screen": self.controls is not None,
               "frame": v.frame if v is not None else None,
               "fighters": [{"x": f.x, "y": f.y, "action": f.action_name} for f in map(decode, v.fighters)] if v else None,
               "inputs_on_chain": None}
        try:
            backend = self.session.backend
            buf = A.decode_inputs(backend.account_data(pda.input_buffer(backend.program_id, self.session.session_id)) or b"")
            if buf is not None:
                out["inputs_on_chain"] = [c.as_row() for c in buf.controllers]
        except (BackendError, AttributeError):
            pass
        return out

    def write_status(self) -> None:
        import json
        import os
        tmp = f"{self.status_path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.status(), f)
        os.replace(tmp, self.status_path)

    def _sources(self):
        if self.inputs is None or not self.hud_on:
            return []
        return [f"P{p + 1} {self.inputs.source(p)}" for p in self.session.local_players]

    def display_period(self) -> float:
        """Seconds between display ticks: 1/60, or the playout buffer's (the source's frame period
        when a remote crank runs slower than 60 Hz)."""
        playout = getattr(self.session, "playout", None)
        return playout.display_period() if playout is not None else TICK_S

    # -- loops ---------------------------------------------------------------------------
    def _display_priority(self, paced: bool) -> None:
        """Only a paced loop (it sleeps out each tick) may run at real-time priority: a local
        headless run steps back to back and would hold a core."""
        yield_to_display()
        self.display_priority = realtime_display() if paced and self.settings["window.realtime"] else "normal"

    def _normal_priority(self) -> None:
        if getattr(self, "display_priority", "normal") == "realtime":
            try:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            except OSError:
                pass

    def run(self) -> None:
        """Interactive: fixed 60 Hz ticks, drawing once per loop, sleeping the rest."""
        self._display_priority(paced=True)
        try:
            self._run_paced()
        finally:
            self._normal_priority()

    def _run_paced(self) -> None:
        acc, last = 0.0, time.perf_counter()
        while self.running:
            now = time.perf_counter()
            acc += now - last
            last = now
            self.handle_events()
            steps = 0
            period = self.display_period()
            while acc >= period and steps < MAX_CATCH_UP:
                if not self.paused() and not (self._game_over() and len(self.session.local_players) == 2):
                    self.tick()
                acc -= period
                steps += 1
            if steps == MAX_CATCH_UP:
                acc = 0.0  # too slow to catch up: drop the backlog rather than spiral
            self.draw()
            if self.status_path is not None and self.ticks_drawn % 6 == 0:
                self.write_status()
            self.ticks_drawn += 1
            wait = period - acc - (time.perf_counter() - now)
            if wait > 0.001:
                time.sleep(wait - 0.0005)

    def run_headless(self, frames: int, timeout: float = 120.0, duration: float | None = None) -> dict:
        """Local: `frames` ticks back to back (no pacing), one draw per tick. Online / spectate (a crank
        elsewhere advances the session): ticks at a steady 60 Hz (deadlines t0 + k/60, so the display
        rate does not drift below the crank's) until the session reaches frame `frames`, ends,
        `duration` seconds pass, or `timeout` seconds pass (timed out). Returns the summary."""
        remote = len(self.session.local_players) < 2
        self._display_priority(paced=remote)
        try:
            return self._run_headless(frames, timeout, duration, remote)
        finally:
            self._normal_priority()

    def _run_headless(self, frames: int, timeout: float, duration: float | None, remote: bool) -> dict:
        t0 = time.perf_counter()
        timed_out = False
        self.tick_late_ms: list[float] = []  # remote: how late each display tick woke (ms)
        cpu0 = time.process_time()
        self.gc = GcPauses().start()
        deadline = t0
        while True:
            view = self.session.view()
            if not remote and self.ticks >= frames:
                break
            if not remote and self._game_over() and decode_rules(self.session.rules()) is not None:
                break  # the rules ended the game: nothing more to step
            if remote and view is not None and (view.frame >= frames or view.status == STATUS_ENDED
                                                or self._rules_ended()):
                break
            if remote and duration is not None and time.perf_counter() - t0 >= duration:
                break
            if remote and time.perf_counter() - t0 > timeout:
                timed_out = True
                break
            pygame.event.pump()
            self.tick()
            self.draw()
            if remote:
                period = self.display_period()
                deadline += period
                late = time.perf_counter() - deadline
                if late > period:  # far behind (the machine stalled us): skip the missed deadlines
                    deadline += int(late / period) * period
                time.sleep(max(0.0, deadline - time.perf_counter()))
                self.tick_late_ms.append((time.perf_counter() - deadline) * 1000)
        wall = time.perf_counter() - t0
        self.gc.stop()
        self.cpu_pct = round(100 * (time.process_time() - cpu0) / wall, 1) if wall > 0 else None
        view = self.session.view()
        state = None
        if view is not None:
            from worldmodel.cartridge import FIELDS
            state = {"frame": view.frame, "status": view.status,
                     **{f"p{p + 1}": dict(zip(FIELDS, view.fighters[p])) for p in (0, 1)}}
        return {
            "frames": self.ticks,
            "fps": round(self.ticks / wall, 2) if wall > 0 else None,
            "inference_ms_p50": round(statistics.median(self.inference_ms), 3) if self.inference_ms else None,
            "cu_per_frame_p50": int(statistics.median(self.cu)) if self.cu else None,
            "latency_ms_p50": round(statistics.median(self.latencies), 3) if self.latencies else None,
            "latency_ms_p95": pct(self.latencies, 95),
            "advanced_every_frame": not self.stalls,
            "stalls": len(self.stalls),
            "first_stall": self.stalls[0] if self.stalls else None,
            "model": self.model_name,
            "backend": self.backend_name,
            "final_state": state,
            **self._rules_summary(view),
            **(self._remote_summary(timed_out) if remote else {}),
        }

    def _rules_ended(self) -> bool:
        rules = decode_rules(self.session.rules())
        return rules is not None and rules.ended

    def _rules_summary(self, view: SessionView | None) -> dict:
        """Match, KOs, stocks and the result, when the session has the rules' state."""
        match = self.renderer.match
        out = {"stage": self.renderer.stage.key,
               "characters": list(match.characters) if match else None,
               "kos": [e.kos for e in self.renderer.effects]}
        rules = decode_rules(self.session.rules())
        if rules is None:
            out["rules"] = None
            return out
        frames = (view.frame if view is not None else 0) or 1
        out.update(rules="on", stocks=list(rules.stocks), ended=rules.ended, end_frame=rules.end_frame,
                   winner=None if not rules.ended else ("tie" if rules.winner is None else f"p{rules.winner + 1}"),
                   rule_interventions=rules.interventions,
                   rule_interventions_per_10k_frames=round(rules.interventions * 10_000 / frames, 1))
        return out

    def _remote_summary(self, timed_out: bool) -> dict:
        """What a networked run saw: every frame number received (in arrival order) and its inputs."""
        follower = getattr(self.session, "follower", None)
        out = {"timed_out": timed_out, "received_frames": list(follower.received) if follower else []}
        playout = getattr(self.session, "playout", None)
        if playout is not None:
            out["playout"] = playout.stats()
        late = self.tick_late_ms
        out.update(tick_late_ms_p50=pct(late, 50), tick_late_ms_p99=pct(late, 99),
                   tick_late_ms_max=round(max(late), 3) if late else None,
                   gc_pauses=len(self.gc.ms), gc_ms_max=round(max(self.gc.ms), 3) if self.gc.ms else None,
                   gc_pauses_over_2ms=sum(g > 2 for g in self.gc.ms), cpu_pct=self.cpu_pct,
                   display_priority=getattr(self, "display_priority", "normal"))
        if hasattr(self.session, "sent"):
            out.update(inputs_sent=self.session.sent, input_errors=self.session.input_errors,
                       last_input_error=self.session.last_error)
        return out


class GcPauses:
    """The interpreter's garbage collections while started, in ms (a headless run reports them:
    a display tick that a collection made late shows here)."""

    def __init__(self):
        self.ms: list[float] = []
        self._t0 = 0.0

    def _on_gc(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms.append((time.perf_counter() - self._t0) * 1000)

    def start(self) -> "GcPauses":
        gc.callbacks.append(self._on_gc)
        return self

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)


BACKGROUND_NICE = 5


def realtime_display() -> str:
    """Ask for a real-time round-robin priority (SCHED_RR, the lowest level) for the calling display
    thread, as games and audio programs do on Linux: a sleeping display thread then wakes on time
    even when the ER, the crank and other clients keep every core busy, instead of waiting for the
    running task's slice to end (the lateness left after yield_to_display, issue 15). It sleeps
    most of each 16.7 ms tick, so it cannot starve the machine. Granted where the user may (root,
    CAP_SYS_NICE, or an RLIMIT_RTPRIO above 0, which desktop distributions give through rtkit or
    limits.conf); elsewhere nothing changes. Returns "realtime" or "normal"."""
    if not hasattr(os, "sched_setscheduler"):
        return "normal"
    # SCHED_RESET_ON_FORK: threads this one starts later (clone, like fork) get the normal policy
    policy = os.SCHED_RR | getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        os.sched_setscheduler(0, policy, os.sched_param(1))
        return "realtime"
    except (OSError, AttributeError):
        return "normal"


def yield_to_display(nice: int = BACKGROUND_NICE) -> int:
    """Give every other thread of this process (the chain backend's event loop and notifier, the
    input sender) a lower CPU priority than the calling display thread; returns how many changed.
    When a display tick's sleep ends while one of them runs on the same core, the kernel otherwise
    may let it finish its slice first: the tick starts late and the frame shows late (bench_er's
    clients report their ticks' lateness: tick_late_ms_p99). Lowering a thread's priority needs no
    privilege; where the system refuses (or has no /proc), nothing changes."""
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return 0
    me, changed = threading.get_native_id(), 0
    for tid in tids:
        if tid == me:
            continue
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                changed += 1
        except OSError:
            pass
    return changed
