# A thorough student's tests: 30 of them, some moving a hundred values, each
# waiting for what it expects with the starter file's helpers. Valid: every
# correct squarer passes them on every run, and they catch every bug.
# Appended to the starter file (partB/test_squarer.py as handed out), whose
# helpers, constants and fixtures they use.
# ruff: noqa: F821

import queue
import threading

from partB.squarer import Squarer


def send(inputs: queue.Queue[int], values: list[int]) -> None:
    for value in values:
        inputs.put(value)


def squares_of(values: list[int]) -> list[int]:
    return [value * value for value in values]


def threads_now() -> set[threading.Thread]:
    return set(threading.enumerate())


def test_three_squares_to_nine(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(3)
    assert receive(squares) == 9


def test_zero_and_one(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    send(inputs, [0, 1])
    assert [receive(squares), receive(squares)] == [0, 1]


def test_negative_values(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    send(inputs, [-1, -5, -12])
    assert [receive(squares) for _ in range(3)] == [1, 25, 144]


def test_a_big_value(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(10**12)
    assert receive(squares) == 10**24


def test_one_value_at_a_time_in_lockstep(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    for value in range(-20, 21):
        inputs.put(value)
        assert receive(squares) == value * value


def test_a_hundred_values_sent_first_come_back_in_order(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    values = [(7 * n) % 101 - 50 for n in range(100)]
    send(inputs, values)
    squares = squarer.initialize(inputs)
    assert [receive(squares) for _ in values] == squares_of(values)


def test_values_sent_after_initialize_come_back_in_order(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    values = [5, 3, 9, 1, 4, 8, 2]
    send(inputs, values)
    assert [receive(squares) for _ in values] == squares_of(values)


def test_no_square_before_any_value(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    assert stays_true(squares.empty), "a square appeared with no value sent"


def test_nothing_extra_after_the_last_square(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    send(inputs, [2, 3])
    assert [receive(squares), receive(squares)] == [4, 9]
    assert stays_true(squares.empty), "a square appeared for no value"


def test_only_one_value_taken_while_nothing_is_read(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    send(inputs, [1, 2, 3, 4, 5])
    squares = squarer.initialize(inputs)
    wait_until(lambda: squares.qsize() == 1, "the first square")
    assert stays_true(lambda: inputs.qsize() == 4), (
        f"took {5 - inputs.qsize()} values with no square read"
    )


def test_the_output_never_holds_two_squares(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    send(inputs, list(range(10)))
    squares = squarer.initialize(inputs)
    wait_until(lambda: not squares.empty(), "the first square")
    assert stays_true(lambda: squares.qsize() <= 1), "two squares waited unread"


def test_each_read_lets_exactly_one_more_value_in(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    send(inputs, [1, 2, 3, 4])
    squares = squarer.initialize(inputs)
    for taken, value in enumerate([1, 2, 3], start=1):
        wait_until(lambda: squares.qsize() == 1, f"the square of {value}")
        assert stays_true(lambda n=taken: inputs.qsize() == 4 - n)
        assert squares.get_nowait() == value * value


def test_the_last_values_wait_in_the_input(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    send(inputs, [6, 7, 8])
    squares = squarer.initialize(inputs)
    assert receive(squares) == 36
    wait_until(lambda: squares.qsize() == 1, "the square of 7")
    assert stays_true(lambda: inputs.qsize() == 1), "8 should still wait in inputs"


def test_a_reader_thread_gets_everything(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    values = list(range(60))
    got: list[int] = []
    squares = squarer.initialize(inputs)
    reader = threading.Thread(
        target=lambda: got.extend(receive(squares) for _ in values), name="reader"
    )
    reader.start()
    send(inputs, values)
    reader.join(TIMEOUT)
    assert not reader.is_alive(), f"the reader got only {len(got)} squares"
    assert got == squares_of(values)


def test_producer_and_reader_at_the_same_time(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    values = list(range(-40, 40))
    got: list[int] = []
    squares = squarer.initialize(inputs)
    producer = threading.Thread(target=send, args=(inputs, values), name="producer")
    reader = threading.Thread(
        target=lambda: got.extend(receive(squares) for _ in values), name="reader"
    )
    for thread in (producer, reader):
        thread.start()
    for thread in (producer, reader):
        thread.join(TIMEOUT)
    assert got == squares_of(values)


def test_two_squarers_do_not_mix(inputs: queue.Queue[int]) -> None:
    first, second = Squarer(), Squarer()
    other: queue.Queue[int] = queue.Queue()
    try:
        out1, out2 = first.initialize(inputs), second.initialize(other)
        send(inputs, [2, 3])
        send(other, [5, 6])
        assert [receive(out1), receive(out1)] == [4, 9]
        assert [receive(out2), receive(out2)] == [25, 36]
    finally:
        for each in (first, second):
            returns_within(PROMPT, each.close, "close()")


def test_initialize_returns_promptly(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    returns_within(PROMPT, lambda: squarer.initialize(inputs), "initialize()")


def test_initialize_starts_exactly_one_thread(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    before = threads_now()
    squarer.initialize(inputs)
    started = threads_now() - before
    assert len(started) == 1, f"started {[t.name for t in started]}"


def test_initialize_returns_a_queue(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    assert isinstance(squares, queue.Queue)


def test_close_stops_the_worker(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    before = threads_now()
    squares = squarer.initialize(inputs)
    inputs.put(4)
    assert receive(squares) == 16
    returns_within(PROMPT, squarer.close, "close()")
    left = [t.name for t in threads_now() - before]
    assert not left, f"after close() these still run: {left}"


def test_close_right_after_initialize(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    before = threads_now()
    squarer.initialize(inputs)
    returns_within(PROMPT, squarer.close, "close() right after initialize()")
    assert not threads_now() - before


def test_close_while_waiting_for_input(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(1)
    assert receive(squares) == 1
    returns_within(PROMPT, squarer.close, "close() with the input empty")


def test_close_with_a_square_unread(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(9)
    wait_until(lambda: not squares.empty(), "the square of 9")
    returns_within(PROMPT, squarer.close, "close() with a square unread")


def test_an_unread_square_stays_after_close(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(11)
    wait_until(lambda: not squares.empty(), "the square of 11")
    returns_within(PROMPT, squarer.close, "close()")
    assert squares.get_nowait() == 121


def test_close_twice_is_harmless(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squarer.initialize(inputs)
    returns_within(PROMPT, squarer.close, "close()")
    returns_within(PROMPT, squarer.close, "close() again")


def test_close_before_initialize(squarer: Squarer) -> None:
    returns_within(PROMPT, squarer.close, "close() before initialize()")


def test_nothing_is_taken_after_close(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    squares = squarer.initialize(inputs)
    inputs.put(2)
    assert receive(squares) == 4
    returns_within(PROMPT, squarer.close, "close()")
    send(inputs, [3, 4])
    assert stays_true(lambda: inputs.qsize() == 2), "a value was taken after close()"


def test_nothing_is_put_after_close(squarer: Squarer, inputs: queue.Queue[int]) -> None:
    squares = squarer.initialize(inputs)
    returns_within(PROMPT, squarer.close, "close()")
    inputs.put(5)
    assert stays_true(squares.empty), "a square appeared after close()"


def test_values_left_in_input_stay_there_after_close(
    squarer: Squarer, inputs: queue.Queue[int]
) -> None:
    send(inputs, [1, 2, 3])
    squares = squarer.initialize(inputs)
    assert receive(squares) == 1
    wait_until(lambda: squares.qsize() == 1, "the square of 2")
    returns_within(PROMPT, squarer.close, "close()")
    assert inputs.qsize() == 1
    assert stays_true(lambda: inputs.qsize() == 1 and squares.qsize() == 1)


def test_many_squarers_one_after_another(inputs: queue.Queue[int]) -> None:
    before = threads_now()
    for value in range(8):
        squarer = Squarer()
        squares = squarer.initialize(inputs)
        inputs.put(value)
        assert receive(squares) == value * value
        returns_within(PROMPT, squarer.close, f"close() of squarer {value}")
    assert not threads_now() - before
